-- A cause is entered once per kind, except expiries: their cause is the day of the job, and every
-- member whose points expire that day has her own entry of that cause (one per member and day).
ALTER TABLE ledger DROP CONSTRAINT ledger_tenant_id_kind_cause_type_cause_id_key;
CREATE UNIQUE INDEX ledger_one_entry_per_cause ON ledger (tenant_id, kind, cause_type, cause_id)
    WHERE kind <> 'expire';
CREATE UNIQUE INDEX ledger_one_expiry_per_member_and_day ON ledger (tenant_id, account_id, cause_type, cause_id)
    WHERE kind = 'expire';
