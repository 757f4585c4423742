-- Returns and claims: a buyer asks to send back some of a delivered order's lines (part of a line's
-- quantity too) with a reason and photos; the tenant's admin decides before `due_at` (the tenant's
-- deadline after the request): accepted, the goods' price including VAT is credited to her
-- balance; or refused, with a reason.
CREATE TABLE returns (
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    return_id       uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    order_id        uuid NOT NULL REFERENCES orders,
    account_id      text NOT NULL,
    organisation_id text,
    status          text NOT NULL CHECK (status IN ('requested', 'accepted', 'refused')),
    reason          text NOT NULL,
    currency        text NOT NULL,
    requested_at    timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    refusal         text,  -- why it was refused, for the buyer
    credited_minor  bigint CHECK (credited_minor >= 0)  -- what an accepted one credited
);
CREATE INDEX returns_queue ON returns (tenant_id, status, due_at);
CREATE INDEX returns_by_account ON returns (tenant_id, account_id, seq DESC);
CREATE INDEX returns_by_order ON returns (order_id);

CREATE TABLE return_lines (
    return_id        uuid NOT NULL REFERENCES returns,
    position         integer NOT NULL,
    product_id       uuid NOT NULL,
    code             text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    vat_rate_bp      integer NOT NULL,
    PRIMARY KEY (return_id, position)
);

-- Photos of the goods, type-sniffed images; the buyer's own, deleted with her account.
CREATE TABLE return_photos (
    photo_id     uuid PRIMARY KEY,
    return_id    uuid NOT NULL REFERENCES returns,
    content_type text NOT NULL,
    content      bytea NOT NULL,
    added_at     timestamptz NOT NULL
);
CREATE INDEX return_photos_by_return ON return_photos (return_id);
