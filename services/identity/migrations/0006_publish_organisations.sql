-- Organisations are announced on identity.organisation.v1 when created or renamed, so that other
-- services know which organisation ids exist and in which tenant. The ones created before that are
-- announced here, once (a migration runs once), as identity.organisation.created events in the
-- CloudEvents envelope the relay publishes (libs/common/events.py), oldest first. Their customer
-- code is not in them: it is a secret people quote to join the organisation.
WITH o AS (SELECT organisations.*, gen_random_uuid() AS event_id FROM organisations)
INSERT INTO outbox (topic, key, event_id, payload)
SELECT 'identity.organisation.v1', o.organisation_id::text, o.event_id,
       convert_to(
           jsonb_build_object(
               'specversion', '1.0',
               'id', o.event_id,
               'source', 'identity',
               'type', 'identity.organisation.created',
               'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'subject', o.organisation_id::text,
               'dataschema', 'urn:comptoir:event:identity.organisation.created:v1',
               'datacontenttype', 'application/json',
               'tenantid', o.tenant_id,
               'data', jsonb_build_object(
                   'organisation_id', o.organisation_id::text,
                   'name', o.name,
                   'created_at', to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
               )
           )::text,
           'UTF8'
       )
FROM o
ORDER BY o.created_at, o.organisation_id;
