-- The code of a reward a member took online (a secret: erased with her other messages), and the
-- warning that some of her points expire soon.
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN (
    'activation', 'activation_code', 'recovery', 'points_earned', 'points_expiring', 'voucher_won',
    'order_copy', 'order_copy_team', 'order_to_approve', 'order_waiting', 'order_approved', 'order_refused',
    'order_modified', 'return_accepted', 'return_refused'
));
