-- The claims of a whole chunk of messages in one round trip: consumer_claim for each, in order (the
-- chunk shares one transaction, so each key's lock is held until it commits either way).
-- Returns one outcome per message, as consumer_claim.
CREATE FUNCTION consumer_claims(
    consumer_name text, topic_names text[], message_keys text[], claimed_events uuid[]
)
RETURNS text[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    outcomes text[] := '{}';
BEGIN
    FOR i IN 1 .. coalesce(array_length(message_keys, 1), 0) LOOP
        outcomes := outcomes || consumer_claim(consumer_name, topic_names[i], message_keys[i], claimed_events[i]);
    END LOOP;
    RETURN outcomes;
END
$$;
