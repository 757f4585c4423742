-- Each tenant has an IANA time zone (a setting, UTC until its admin chooses), which identity announces
-- on identity.tenant.v1 so that the other services count the tenant's days in it. The tenants that
-- exist already are announced here, once (a migration runs once), as identity.tenant.settings_changed
-- events in the CloudEvents envelope the relay publishes (libs/common/events.py).
ALTER TABLE tenant_settings ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';

WITH t AS (SELECT tenant_settings.*, gen_random_uuid() AS event_id FROM tenant_settings)
INSERT INTO outbox (topic, key, event_id, payload)
SELECT 'identity.tenant.v1', t.tenant_id, t.event_id,
       convert_to(
           jsonb_build_object(
               'specversion', '1.0',
               'id', t.event_id,
               'source', 'identity',
               'type', 'identity.tenant.settings_changed',
               'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'subject', t.tenant_id,
               'dataschema', 'urn:comptoir:event:identity.tenant.settings_changed:v1',
               'datacontenttype', 'application/json',
               'tenantid', t.tenant_id,
               'data', jsonb_build_object(
                   'time_zone', t.time_zone,
                   'changed_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
               )
           )::text,
           'UTF8'
       )
FROM t
ORDER BY t.tenant_id;
