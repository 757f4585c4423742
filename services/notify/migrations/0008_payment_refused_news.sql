-- An order that goes no further because what was to pay part of it failed (loyalty's points, code
-- or gift card refused or given back, or never checked in time).
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN (
    'activation', 'activation_code', 'recovery', 'points_earned', 'points_expiring', 'voucher_won',
    'giftcard_received', 'order_copy', 'order_copy_team', 'order_to_approve', 'order_waiting',
    'order_approved', 'order_refused', 'order_payment_refused', 'order_modified', 'return_accepted',
    'return_refused'
));
