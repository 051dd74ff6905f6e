DROP TABLE audit_events;
DROP TABLE outbox;
DROP TABLE invoice_numbers;
DROP TABLE invoice_completions;
DROP TABLE invoice_lines;
DROP TABLE invoices;
