-- A voucher is redeemed by the live completion that names it, not by a status of its own:
-- redeeming is one more index entry of the completion being written (no voucher row rewritten
-- in the ledger writer's group), and revoking the completion frees it. A voucher's stored
-- status is now issued or cancelled; "redeemed" is read from the completions.
ALTER TABLE completions ADD COLUMN voucher_code TEXT;
UPDATE completions
   SET voucher_code = (SELECT v.code FROM vouchers v WHERE v.completion_id = completions.id)
 WHERE status = 'accepted' AND revoked_at IS NULL
   AND id IN (SELECT completion_id FROM vouchers WHERE completion_id IS NOT NULL);
-- At most one live completion holds a voucher; only completions that redeemed one have an entry.
CREATE UNIQUE INDEX completions_by_voucher ON completions (voucher_code)
    WHERE voucher_code IS NOT NULL AND revoked_at IS NULL;
-- A voucher stored as redeemed whose completion is not live stays `redeemed`: never usable again,
-- and reported by reconciliation (`voucher_orphaned`), as before.
UPDATE vouchers SET status = 'issued'
 WHERE status = 'redeemed'
   AND code IN (SELECT voucher_code FROM completions WHERE voucher_code IS NOT NULL);
DROP INDEX vouchers_by_completion;
ALTER TABLE vouchers DROP COLUMN completion_id;
