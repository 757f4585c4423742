-- Issue 5: when a member's identity account is deleted, her points account is closed. One last
-- 'forfeit' entry brings the balance to 0, and a closed account earns nothing any more.

-- Set once, when identity announces the deletion; NULL while the member may still earn.
ALTER TABLE accounts ADD COLUMN closed_at timestamptz;

ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_check
    CHECK (kind IN ('earn', 'redeem', 'reverse', 'expire', 'adjust', 'forfeit'));
