ALTER TABLE vouchers ADD COLUMN completion_id TEXT;
-- Orphans stay `redeemed` without a completion, as they were.
UPDATE vouchers
   SET completion_id = (SELECT c.id FROM completions c
                         WHERE c.voucher_code = vouchers.code AND c.revoked_at IS NULL),
       status = 'redeemed'
 WHERE status = 'issued'
   AND code IN (SELECT voucher_code FROM completions
                 WHERE voucher_code IS NOT NULL AND revoked_at IS NULL);
CREATE UNIQUE INDEX vouchers_by_completion ON vouchers (completion_id) WHERE completion_id IS NOT NULL;
DROP INDEX completions_by_voucher;
ALTER TABLE completions DROP COLUMN voucher_code;
