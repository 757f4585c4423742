-- Vouchers: a reward taken online issues a single-use code, emailed to the member. Only the code's
-- digest is kept (and its last four characters, to tell codes apart): a leaked table spends nothing.
CREATE TABLE vouchers (
    voucher_id    uuid PRIMARY KEY,
    tenant_id     text NOT NULL,
    account_id    text NOT NULL,
    program_id    uuid NOT NULL,
    code_digest   bytea NOT NULL,
    code_hint     text NOT NULL,
    points        bigint NOT NULL CHECK (points >= 0),
    issued_at     timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    redeemed_at   timestamptz,
    redeemed_by   text,                             -- the staff account
    redeemed_shop text,
    FOREIGN KEY (tenant_id, program_id) REFERENCES programs,
    UNIQUE (tenant_id, code_digest),
    CHECK ((redeemed_at IS NULL) = (redeemed_by IS NULL))
);
CREATE INDEX vouchers_by_member ON vouchers (tenant_id, account_id, issued_at DESC);
