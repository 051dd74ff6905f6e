DROP TABLE vouchers;
ALTER TABLE payers DROP COLUMN voucher_required_since;
