-- Rings the dispatcher's doorbell (libs.common.db.Doorbell, bell "queue") when a message becomes
-- due for sending, so it sends at once instead of at its next poll. NOTIFY is delivered at commit,
-- once per transaction however many rows rang.
CREATE FUNCTION ring_queue_doorbell() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('comptoir_queue_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_queued
AFTER INSERT OR UPDATE OF status ON messages
FOR EACH ROW WHEN (NEW.status = 'queued')
EXECUTE FUNCTION ring_queue_doorbell();
