-- The shop counter: what loyalty learns of the other services (members and their cards, shops,
-- the catalog's products and categories), the visits and purchases shops record, and the tenant's
-- versioned earning rules whose version each ledger entry records.

-- What identity announces of each account (internal.identity.facts.v1); the latest facts hold.
-- A card number names one member of a tenant: staff reach a customer only through it.
CREATE TABLE members (
    tenant_id    text NOT NULL,
    account_id   text NOT NULL,
    roles        text[] NOT NULL,
    card_number  text,
    professional boolean NOT NULL DEFAULT false,
    shop_id      text,                            -- the shop that registered her
    sponsor_id   text,
    changed_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, account_id)
);
CREATE UNIQUE INDEX members_by_card ON members (tenant_id, card_number) WHERE card_number IS NOT NULL;

-- Identity's organisations of kind shop (identity.organisation.v1).
CREATE TABLE shops (
    tenant_id text NOT NULL,
    shop_id   text NOT NULL,
    name      text NOT NULL,
    PRIMARY KEY (tenant_id, shop_id)
);

-- Catalog's categories and products (catalog.category.v1, catalog.product.v1): a purchase names
-- products or categories, and rules include or exclude brands and categories.
-- `version` is the producer's: a late event of an older version changes nothing.
CREATE TABLE categories (
    tenant_id   text NOT NULL,
    category_id text NOT NULL,
    names       jsonb NOT NULL,                   -- per language
    version     integer NOT NULL,
    PRIMARY KEY (tenant_id, category_id)
);
CREATE TABLE products (
    tenant_id   text NOT NULL,
    product_id  text NOT NULL,
    code        text NOT NULL,
    name        text NOT NULL,
    brand_id    text,
    category_id text,
    active      boolean NOT NULL,
    version     integer NOT NULL,
    PRIMARY KEY (tenant_id, product_id)
);

-- Earning rules: each change is a new version; the latest version of a rule is in force unless it
-- is retired. Versions are never updated nor deleted, so an entry's rule version stays readable.
CREATE TABLE rule_versions (
    tenant_id  text NOT NULL,
    rule_id    uuid NOT NULL,
    version    integer NOT NULL CHECK (version > 0),
    spec       jsonb NOT NULL,                    -- services/loyalty/rules.py RuleSpec
    retired    boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, rule_id, version)
);
CREATE TRIGGER rule_versions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON rule_versions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();

-- The order rule (points per currency unit of an order) counts its versions too.
ALTER TABLE earning_rules ADD COLUMN version integer NOT NULL DEFAULT 1;

-- A visit or a purchase a shop recorded for a member; `number` counts her visits (purchases
-- included) in the tenant, for the n-th visit rules.
CREATE TABLE visits (
    visit_id     uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    account_id   text NOT NULL,
    shop_id      text,
    recorded_by  text NOT NULL,                   -- the staff account
    kind         text NOT NULL CHECK (kind IN ('visit', 'purchase')),
    amount_minor bigint NOT NULL CHECK (amount_minor BETWEEN 0 AND 100000000000),
    currency     text NOT NULL,
    products     text[] NOT NULL DEFAULT '{}',
    categories   text[] NOT NULL DEFAULT '{}',
    number       integer NOT NULL CHECK (number > 0),
    recorded_at  timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, account_id) REFERENCES accounts,
    UNIQUE (tenant_id, account_id, number),
    CHECK (kind = 'purchase' OR amount_minor = 0)
);
CREATE INDEX visits_by_shop ON visits (tenant_id, shop_id, recorded_at DESC);
CREATE INDEX visits_by_account ON visits (tenant_id, account_id, recorded_at DESC);

-- Each earning entry records the rules and versions that made it, with the points of each: one
-- visit earns once, under every rule that applies ([{"rule_id", "version", "points"}]; the order
-- rule has no id). Entries written before rules had versions name none.
ALTER TABLE ledger ADD COLUMN rules jsonb NOT NULL DEFAULT '[]';
