-- Shops: a merchant's points of sale are organisations of kind 'shop' (partners' organisations are
-- of kind 'partner'), with the details customers see: address, phone, opening hours. Their staff
-- are accounts with the shop role that belong to them.
ALTER TABLE organisations
    ADD COLUMN kind text NOT NULL DEFAULT 'partner' CHECK (kind IN ('partner', 'shop')),
    ADD COLUMN address jsonb,
    ADD COLUMN phone text,
    ADD COLUMN opening_hours text;

-- What loyalty needs of a customer besides her card number: whether she is a professional (rules
-- and rewards for professionals only) and the shop that registered her (her home shop).
ALTER TABLE accounts
    ADD COLUMN professional boolean NOT NULL DEFAULT false,
    ADD COLUMN home_shop_id uuid,
    ADD FOREIGN KEY (tenant_id, home_shop_id) REFERENCES organisations (tenant_id, organisation_id);

-- Those facts travel on internal.identity.facts.v1 whenever they change; the accounts created
-- before that are announced here, once (a migration runs once), in the CloudEvents envelope the
-- relay publishes (libs/common/events.py), oldest first.
WITH a AS (SELECT accounts.*, gen_random_uuid() AS event_id FROM accounts)
INSERT INTO outbox (topic, key, event_id, payload)
SELECT 'internal.identity.facts.v1', a.account_id::text, a.event_id,
       convert_to(
           jsonb_build_object(
               'specversion', '1.0',
               'id', a.event_id,
               'source', 'identity',
               'type', 'identity.account.facts_changed',
               'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'subject', a.account_id::text,
               'dataschema', 'urn:comptoir:event:identity.account.facts_changed:v1',
               'datacontenttype', 'application/json',
               'tenantid', a.tenant_id,
               'data', jsonb_build_object(
                   'account_id', a.account_id::text,
                   'roles', to_jsonb(a.roles),
                   'card_number', a.card_number,
                   'professional', a.professional,
                   'shop_id', NULL,
                   'sponsor_id', a.sponsor_id::text,
                   'changed_at', to_char(a.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
               )
           )::text,
           'UTF8'
       )
FROM a
ORDER BY a.created_at, a.account_id;
