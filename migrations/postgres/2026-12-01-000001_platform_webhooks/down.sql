DROP TABLE webhook_attempts;
DELETE FROM outbox WHERE kind <> 'bureau';
DROP INDEX outbox_by_message;
DROP INDEX outbox_by_invoice;
ALTER TABLE outbox ALTER COLUMN invoice_id SET NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_invoice_id_key UNIQUE (invoice_id);
ALTER TABLE outbox DROP COLUMN resent_at, DROP COLUMN payload, DROP COLUMN event_type,
    DROP COLUMN message_id, DROP COLUMN endpoint_id, DROP COLUMN kind;
DROP TABLE webhook_endpoints;
