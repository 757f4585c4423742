-- Topics for the platform's own services now start with "internal." (a broker ACL excludes them by
-- prefix): contact data, message requests, every dead-letter topic and the relay's marker. Four event
-- types were renamed to <service>.<aggregate>.<verb> and catalog.price.v1 to catalog.price_list.v1.
-- Rows kept under the old names are renamed here, so that what the relay publishes again after a
-- broker reset, and what a replay applies, uses the new names. Records still waiting on the broker
-- under the old names are not moved: drain the consumers before upgrading (deploy/README.md).

CREATE TEMPORARY TABLE renamed_topics (old text PRIMARY KEY, new text NOT NULL) ON COMMIT DROP;
INSERT INTO renamed_topics VALUES
    ('identity.contact.v1', 'internal.identity.contact.v1'),
    ('notify.requests.v1', 'internal.notify.requests.v1'),
    ('catalog.price.v1', 'catalog.price_list.v1');
INSERT INTO renamed_topics SELECT old || '.dlq', new || '.dlq' FROM renamed_topics;

CREATE TEMPORARY TABLE renamed_types (old text PRIMARY KEY, new text NOT NULL) ON COMMIT DROP;
INSERT INTO renamed_types VALUES
    ('identity.account.membership.changed', 'identity.account.membership_changed'),
    ('identity.activation.code.requested', 'identity.activation.code_requested'),
    ('catalog.organisation.terms.changed', 'catalog.organisation.terms_changed'),
    ('catalog.price-list.changed', 'catalog.price_list.changed');

UPDATE outbox SET topic = r.new FROM renamed_topics r WHERE outbox.topic = r.old;
UPDATE outbox SET topic = 'internal.' || topic WHERE topic LIKE '%.dlq' AND topic NOT LIKE 'internal.%';
UPDATE dead_letters SET topic = r.new FROM renamed_topics r WHERE dead_letters.topic = r.old;

-- Envelopes written by this platform are compact JSON: the type appears as "type":"<t>" and in
-- "dataschema":"urn:comptoir:event:<t>:v<N>". Dead-letter copies (topics ending in .dlq) keep the
-- bytes that were received; the dead letters a replay applies are renamed.
UPDATE outbox SET payload = convert_to(
        replace(
            replace(convert_from(payload, 'UTF8'), '"type":"' || r.old || '"', '"type":"' || r.new || '"'),
            ':event:' || r.old || ':v', ':event:' || r.new || ':v'
        ),
        'UTF8'
    )
FROM renamed_types r
WHERE outbox.topic IN ('identity.account.v1', 'internal.notify.requests.v1', 'catalog.organisation.v1', 'catalog.price_list.v1')
    AND position(r.old IN convert_from(outbox.payload, 'UTF8')) > 0;

UPDATE dead_letters SET
    event_type = r.new,
    payload = convert_to(
        replace(
            replace(convert_from(payload, 'UTF8'), '"type":"' || r.old || '"', '"type":"' || r.new || '"'),
            ':event:' || r.old || ':v', ':event:' || r.new || ':v'
        ),
        'UTF8'
    )
FROM renamed_types r
WHERE dead_letters.event_type = r.old;

-- The marker moved to a new, empty topic: its offsets start again, which is no lost broker data.
DELETE FROM outbox_relay_state;
