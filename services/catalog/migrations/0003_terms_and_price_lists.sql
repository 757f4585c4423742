-- Customer groups, organisations' terms (group, assortment, entitlements) and price lists (issue 6).
-- Organisation ids are identity's: catalog keeps no copy of organisations, only their terms.

CREATE TABLE customer_groups (
    id         uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX customer_groups_name ON customer_groups (tenant_id, lower(name));

CREATE TABLE organisation_terms (
    tenant_id       text NOT NULL,
    organisation_id uuid NOT NULL,
    group_id        uuid,
    restricted      boolean NOT NULL DEFAULT false,  -- true: it sees only its assortment_items
    entitlements    text[] NOT NULL DEFAULT '{}',
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, organisation_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES customer_groups (tenant_id, id)
);
CREATE INDEX organisation_terms_group ON organisation_terms (tenant_id, group_id);
-- An organisation id is identity's and names one organisation of one tenant: the tenant that holds
-- terms (or lists) for it is its tenant, and other tenants find it missing.
CREATE INDEX organisation_terms_organisation ON organisation_terms (organisation_id);

-- A table rather than an array: browsing and look-ups test membership through the primary key.
CREATE TABLE assortment_items (
    tenant_id       text NOT NULL,
    organisation_id uuid NOT NULL,
    product_id      uuid NOT NULL,
    PRIMARY KEY (tenant_id, organisation_id, product_id),
    FOREIGN KEY (tenant_id, organisation_id) REFERENCES organisation_terms (tenant_id, organisation_id)
        ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);

CREATE TABLE price_lists (
    id              uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    scope           text NOT NULL CHECK (scope IN ('brand', 'group', 'organisation')),
    brand_id        uuid NOT NULL,
    group_id        uuid,
    organisation_id uuid,
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    valid_from      timestamptz,  -- null: since always
    valid_until     timestamptz,  -- exclusive; null: open-ended
    active          boolean NOT NULL DEFAULT true,  -- false once withdrawn, for good
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, brand_id) REFERENCES brands (tenant_id, id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES customer_groups (tenant_id, id),
    CHECK ((group_id IS NOT NULL) = (scope = 'group')),
    CHECK ((organisation_id IS NOT NULL) = (scope = 'organisation')),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_until > valid_from)
);
CREATE INDEX price_lists_brand ON price_lists (tenant_id, brand_id);
CREATE INDEX price_lists_organisation ON price_lists (organisation_id) WHERE organisation_id IS NOT NULL;

CREATE TABLE price_list_prices (
    tenant_id     text NOT NULL,
    price_list_id uuid NOT NULL,
    product_id    uuid NOT NULL,
    price_minor   bigint NOT NULL CHECK (price_minor >= 0),
    PRIMARY KEY (price_list_id, product_id),
    FOREIGN KEY (tenant_id, price_list_id) REFERENCES price_lists (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id)
);
-- A product's offers, read with every product shown (the caller's price is resolved from them).
CREATE INDEX price_list_prices_product ON price_list_prices (tenant_id, product_id);
