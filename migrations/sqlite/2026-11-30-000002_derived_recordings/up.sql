-- A completion's recording is no longer copied into the audit trail: the completion row says
-- who (its platform), when (received_at) and what (its status, grant and limit), and the trail
-- shows it from there (service::audit::recorded). The copies go; nothing is lost.
DELETE FROM audit_events WHERE action = 'completion.recorded';
