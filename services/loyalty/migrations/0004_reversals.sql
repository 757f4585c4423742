-- A reversal takes back the points an order earned when the order is cancelled (later: when goods
-- come back). It never takes a balance below zero: what it could not take is kept on the entry as
-- its shortfall, so a reversal may move no points at all and still be recorded, once.
ALTER TABLE ledger ADD COLUMN shortfall bigint NOT NULL DEFAULT 0 CHECK (shortfall >= 0);
ALTER TABLE ledger DROP CONSTRAINT ledger_points_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_moves CHECK (points <> 0 OR shortfall > 0);
ALTER TABLE ledger ADD CONSTRAINT ledger_reversals_debit CHECK (kind <> 'reverse' OR points <= 0);
