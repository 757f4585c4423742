-- Gift cards: virtual ones are numbered when sold; physical ones come in batches (generated or
-- imported) and are activated when sold. A card spends only with its PIN (or, later, its owner's
-- session); wrong PINs are counted per card and lock it. Its balance is the sum of its moves.
CREATE TABLE gift_card_batches (
    batch_id   uuid PRIMARY KEY,
    tenant_id  text NOT NULL,
    label      text NOT NULL,
    cards      integer NOT NULL CHECK (cards > 0),
    created_at timestamptz NOT NULL
);

CREATE TABLE gift_cards (
    card_id        uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    number         text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('virtual', 'physical')),
    pin_digest     bytea NOT NULL,                -- HMAC-SHA256 of the PIN keyed by the card's id
    batch_id       uuid REFERENCES gift_card_batches,
    currency       text NOT NULL DEFAULT 'EUR',
    balance_minor  bigint NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
    owner_id       text,                          -- the member it was sold for, if any
    sold_at        timestamptz,                   -- null: a physical card not sold yet
    sold_shop      text,
    expires_at     timestamptz,
    wrong_pins     integer NOT NULL DEFAULT 0,
    locked_at      timestamptz,
    created_at     timestamptz NOT NULL,
    UNIQUE (tenant_id, number),
    CHECK ((sold_at IS NULL) = (expires_at IS NULL))
);
CREATE INDEX gift_cards_by_owner ON gift_cards (tenant_id, owner_id) WHERE owner_id IS NOT NULL;

CREATE TABLE gift_card_moves (
    move_id       uuid PRIMARY KEY,
    tenant_id     text NOT NULL,
    card_id       uuid NOT NULL REFERENCES gift_cards,
    kind          text NOT NULL CHECK (kind IN ('sale', 'redeem')),
    amount_minor  bigint NOT NULL CHECK (amount_minor <> 0),
    balance_minor bigint NOT NULL CHECK (balance_minor >= 0),
    shop_id       text,
    by_account    text NOT NULL,
    at            timestamptz NOT NULL,
    CHECK (kind <> 'sale' OR amount_minor > 0),
    CHECK (kind <> 'redeem' OR amount_minor < 0)
);
CREATE INDEX gift_card_moves_by_card ON gift_card_moves (card_id, at);
CREATE INDEX gift_card_moves_by_shop ON gift_card_moves (tenant_id, shop_id, at DESC);
CREATE TRIGGER gift_card_moves_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gift_card_moves
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_is_append_only();
