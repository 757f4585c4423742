-- Reward programs (a discount, a cashback or a gift for points, or free every n visits) and the
-- rewards members took with a visit at the counter.
CREATE TABLE programs (
    tenant_id  text NOT NULL,
    program_id uuid NOT NULL,
    spec       jsonb NOT NULL,                    -- services/loyalty/rewards.py ProgramSpec
    created_at timestamptz NOT NULL,
    retired_at timestamptz,
    PRIMARY KEY (tenant_id, program_id)
);

-- `visit_number`: her visit count when she took it, from which a per-visit program counts again.
CREATE TABLE redemptions (
    redemption_id  uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    account_id     text NOT NULL,
    program_id     uuid NOT NULL,
    visit_id       uuid NOT NULL REFERENCES visits,
    visit_number   integer NOT NULL,
    points         bigint NOT NULL CHECK (points >= 0),
    discount_minor bigint NOT NULL CHECK (discount_minor >= 0),
    redeemed_at    timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, program_id) REFERENCES programs,
    UNIQUE (visit_id, program_id)
);
CREATE INDEX redemptions_by_member ON redemptions (tenant_id, account_id, program_id);

-- What a purchase came to once its rewards were taken off (what the earning rules read).
ALTER TABLE visits ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0);
