-- Ordering's read model of catalog's price lists and organisation terms (issue 6): an order line is
-- priced by the most specific list valid at submission, and only products of the buyer's assortment
-- may be ordered.

-- Products now say their brand (brand price lists apply to it), VAT rate and status; all null for a
-- product whose last event predates those fields.
ALTER TABLE products
    ADD COLUMN brand_id    uuid,
    ADD COLUMN vat_rate_bp integer,
    ADD COLUMN status      text;

-- One row per list, withdrawn lists included: their version keeps an older event from reviving them.
CREATE TABLE price_lists (
    tenant_id     text NOT NULL,
    price_list_id uuid NOT NULL,
    scope         text NOT NULL CHECK (scope IN ('brand', 'group', 'organisation')),
    target_id     text NOT NULL,           -- by scope: the brand id, the group id or the organisation id
    brand_id      uuid,                    -- the list's brand, as catalog files it
    currency      text NOT NULL,
    valid_from    timestamptz,             -- null: since always
    valid_until   timestamptz,             -- exclusive; null: open
    active        boolean NOT NULL,        -- false: withdrawn, it prices nothing
    version       bigint NOT NULL,         -- catalog's version of the list: only newer ones apply
    PRIMARY KEY (tenant_id, price_list_id)
);
-- An order looks up the lists aimed at its buyer's organisation and group and at its products' brands.
CREATE INDEX price_lists_by_target ON price_lists (tenant_id, target_id);

-- The prices of active lists only (a withdrawn list's are deleted). Keyed by product first: an order
-- looks up the lists that price each of its products.
CREATE TABLE price_list_prices (
    tenant_id     text NOT NULL,
    product_id    uuid NOT NULL,
    price_list_id uuid NOT NULL,
    price_minor   bigint NOT NULL CHECK (price_minor >= 0),
    PRIMARY KEY (tenant_id, product_id, price_list_id),
    FOREIGN KEY (tenant_id, price_list_id) REFERENCES price_lists ON DELETE CASCADE
);
CREATE INDEX price_list_prices_by_list ON price_list_prices (tenant_id, price_list_id);

-- An organisation's terms: its customer group, and whether an assortment restricts what it may order.
CREATE TABLE organisation_terms (
    tenant_id       text NOT NULL,
    organisation_id text NOT NULL,
    group_id        text,                  -- null: in no customer group
    restricted      boolean NOT NULL,      -- true: only the products of organisation_assortments
    entitlements    text[] NOT NULL,       -- contract entitlements, e.g. "ecommerce"
    version         bigint NOT NULL,
    PRIMARY KEY (tenant_id, organisation_id)
);

CREATE TABLE organisation_assortments (
    tenant_id       text NOT NULL,
    organisation_id text NOT NULL,
    product_id      uuid NOT NULL,
    PRIMARY KEY (tenant_id, organisation_id, product_id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisation_terms ON DELETE CASCADE
);

-- Which list priced each order line; null: the product's base price.
ALTER TABLE order_lines ADD COLUMN price_list_id uuid;
