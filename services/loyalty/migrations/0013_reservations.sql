-- What an order pays with loyalty (points, a code, a gift card) is reserved at checkout, held while
-- the order awaits approval, then settled when it is confirmed or released when it is refused,
-- cancelled or expired. One row per order decides: every message about the order locks it, so a
-- duplicate or a late one changes nothing, and the items come back at most once.
CREATE TABLE reservations (
    tenant_id    text NOT NULL,
    order_id     uuid NOT NULL,
    account_id   text NOT NULL,
    state        text NOT NULL CHECK (state IN ('held', 'settled', 'released', 'refused')),
    acknowledged boolean NOT NULL DEFAULT false,  -- ordering answered: loyalty's timeout no longer applies
    points       bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    voucher_id   uuid REFERENCES vouchers,
    gift_card_id uuid REFERENCES gift_cards,
    gift_minor   bigint NOT NULL DEFAULT 0 CHECK (gift_minor >= 0),
    reasons      jsonb NOT NULL DEFAULT '{}',       -- a refusal's reason per item
    hold_until   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX reservations_held ON reservations (hold_until) WHERE state = 'held' AND NOT acknowledged;

-- Points reserved are debited (reserve) and come back once if the reservation is released (release).
ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_check
    CHECK (kind IN ('earn', 'redeem', 'reverse', 'expire', 'adjust', 'forfeit', 'reserve', 'release'));
ALTER TABLE ledger ADD CONSTRAINT ledger_reserve_debits CHECK (kind <> 'reserve' OR points < 0);
ALTER TABLE ledger ADD CONSTRAINT ledger_release_credits CHECK (kind <> 'release' OR points > 0);

-- A gift card's amount reserved for an order is spent at once (redeem) and refunded if released.
ALTER TABLE gift_card_moves ADD COLUMN order_id uuid;
ALTER TABLE gift_card_moves DROP CONSTRAINT gift_card_moves_kind_check;
ALTER TABLE gift_card_moves ADD CONSTRAINT gift_card_moves_kind_check
    CHECK (kind IN ('sale', 'redeem', 'refund'));
ALTER TABLE gift_card_moves ADD CONSTRAINT gift_card_moves_refund_credits CHECK (kind <> 'refund' OR amount_minor > 0);
