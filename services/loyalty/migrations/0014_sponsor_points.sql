-- Sponsor points: what a sponsor earns on her team's orders is kept in a pot of its own, apart from
-- her purchase points: entries name their pot, the account holds one balance per pot (each the sum
-- of its pot's entries). The tenant's rule: a share of each recruit's eligible amount, in points,
-- and a bonus on a recruit's first order.
ALTER TABLE ledger ADD COLUMN pot text NOT NULL DEFAULT 'purchase' CHECK (pot IN ('purchase', 'sponsor'));
ALTER TABLE accounts ADD COLUMN sponsor_balance bigint NOT NULL DEFAULT 0 CHECK (sponsor_balance >= 0);
ALTER TABLE loyalty_settings
    ADD COLUMN sponsor_percent_bp integer NOT NULL DEFAULT 0 CHECK (sponsor_percent_bp BETWEEN 0 AND 10000),
    ADD COLUMN sponsor_first_order_points integer NOT NULL DEFAULT 0
        CHECK (sponsor_first_order_points BETWEEN 0 AND 1000000);
ALTER TABLE loyalty_settings ALTER COLUMN updated_at SET DEFAULT now();
ALTER TABLE reservations ADD COLUMN sponsor_points bigint NOT NULL DEFAULT 0 CHECK (sponsor_points >= 0);
