-- Business limits on amounts (libs/common/limits.py, stated in docs/contracts.md): a ledger entry
-- moves at most 10^9 points, except the forfeit that closes an account, which moves its whole balance;
-- a balance stays within 10^12 either way; an earning rule gives at most 10,000 points per unit.
--
-- Added NOT VALID, then validated when every stored row keeps the limit: a row stored before the
-- limit existed and over it is left for an operator to correct (a warning names the constraint), so
-- the service still starts; every row written from now on is checked either way. (The ledger is
-- append-only: its old rows are never written again.)

ALTER TABLE ledger
    ADD CONSTRAINT ledger_points_limit CHECK (
        abs(points) <= 1000000000 OR (kind = 'forfeit' AND abs(points) <= 1000000000000)
    ) NOT VALID;
ALTER TABLE accounts
    ADD CONSTRAINT accounts_balance_limit CHECK (abs(balance) <= 1000000000000) NOT VALID;
ALTER TABLE earning_rules
    ADD CONSTRAINT earning_rules_points_per_unit_limit CHECK (points_per_unit <= 10000) NOT VALID;

DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ['ledger', 'ledger_points_limit'],
        ['accounts', 'accounts_balance_limit'],
        ['earning_rules', 'earning_rules_points_per_unit_limit']
    ] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', pair[1], pair[2]);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'stored rows of % break %: correct them, then VALIDATE CONSTRAINT', pair[1], pair[2];
        END;
    END LOOP;
END
$$;
