-- An order paid partly with loyalty (points, a code, a gift card) is one saga with loyalty: ordering
-- asks loyalty to reserve the items at submission (the order is pending meanwhile), then to settle
-- them when the order is confirmed or to release them when it is refused, cancelled or never
-- completed. `waiting_for` names loyalty's answer the saga waits on (null: none), since `step_at`.
CREATE TABLE checkout_sagas (
    tenant_id    text NOT NULL,
    order_id     uuid NOT NULL,
    account_id   text NOT NULL,
    state        text NOT NULL CHECK (state IN (
                     'reserving', 'held', 'settling', 'settled', 'releasing', 'released', 'refused')),
    waiting_for  text CHECK (waiting_for IN ('reservation', 'settlement', 'release')),
    by_validator boolean NOT NULL,                 -- the buyer validates her organisation's orders
    reasons      jsonb NOT NULL DEFAULT '{}',      -- loyalty's refusal, per item
    step_at      timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX checkout_sagas_waiting ON checkout_sagas (tenant_id, step_at) WHERE waiting_for IS NOT NULL;
