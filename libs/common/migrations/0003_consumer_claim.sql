-- One round trip where a consumer made three for each message: take the key's lock, look for a
-- dead letter of the key, claim the event in the inbox. A function rather than one statement:
-- a statement's snapshot is taken before it waits for the lock, so it could miss the dead letter
-- the lock's holder just committed; in a volatile function each query takes its snapshot when it
-- starts, after the lock is held.
-- Returns 'parked' (a dead letter of the key exists: nothing claimed), 'unreadable' (no event id:
-- nothing claimed), 'duplicate' (already in the inbox) or 'fresh' (claimed now).
CREATE FUNCTION consumer_claim(consumer_name text, topic_name text, message_key text, claimed_event uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- The same lock key as the consumer's dead-lettering and replay: "<consumer>:<topic>:<key>".
    PERFORM pg_advisory_xact_lock(hashtextextended(consumer_name || ':' || topic_name || ':' || message_key, 0));
    IF EXISTS (
        SELECT 1 FROM dead_letters d
        WHERE d.consumer = consumer_name AND d.topic = topic_name AND d.key = message_key
    ) THEN
        RETURN 'parked';
    END IF;
    IF claimed_event IS NULL THEN
        RETURN 'unreadable';
    END IF;
    INSERT INTO inbox (consumer, event_id) VALUES (consumer_name, claimed_event) ON CONFLICT DO NOTHING;
    IF FOUND THEN
        RETURN 'fresh';
    END IF;
    RETURN 'duplicate';
END
$$;
