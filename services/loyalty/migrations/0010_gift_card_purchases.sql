-- Gift cards bought online: a purchase is pending while the buyer pays on the payment provider's
-- page (its id is the reference the provider's notices name), then moves once, to succeeded (the
-- card is issued, for the buyer or the member she named) or failed, on the first notice that
-- decides it. A notice for a decided purchase changes nothing. The card's sale is an ordinary sale
-- move at no shop.
CREATE TABLE gift_card_purchases (
    purchase_id         uuid PRIMARY KEY,
    tenant_id           text NOT NULL,
    buyer_id            text NOT NULL,
    owner_id            text NOT NULL,   -- whom the card is for: the buyer or another member
    amount_minor        bigint NOT NULL CHECK (amount_minor > 0),
    currency            text NOT NULL,
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason      text,
    provider_payment_id text,
    card_id             uuid REFERENCES gift_cards,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CHECK ((status = 'succeeded') = (card_id IS NOT NULL))
);
CREATE INDEX gift_card_purchases_by_buyer ON gift_card_purchases (tenant_id, buyer_id, created_at DESC);

