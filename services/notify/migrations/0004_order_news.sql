-- News of an order's approval, and one event written to several people (an order's copy to its
-- buyer and to her organisation's validators): a message per event and account.
ALTER TABLE messages DROP CONSTRAINT messages_source_event_id_key;
ALTER TABLE messages ADD CONSTRAINT messages_source_event_account_key UNIQUE (source_event_id, account_id);

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN (
    'activation', 'activation_code', 'recovery', 'points_earned',
    'order_copy', 'order_copy_team', 'order_to_approve', 'order_waiting', 'order_approved', 'order_refused',
    'order_modified'
));
