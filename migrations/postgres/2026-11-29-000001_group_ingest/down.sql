ALTER TABLE completions
    ADD CONSTRAINT completions_platform_code_fkey FOREIGN KEY (platform_code) REFERENCES platforms(code),
    ADD CONSTRAINT completions_course_id_fkey FOREIGN KEY (course_id) REFERENCES courses(id),
    ADD CONSTRAINT completions_learner_id_fkey FOREIGN KEY (learner_id) REFERENCES learners(id),
    ADD CONSTRAINT completions_payer_code_fkey FOREIGN KEY (payer_code) REFERENCES payers(code),
    ADD CONSTRAINT completions_schedule_id_fkey FOREIGN KEY (schedule_id) REFERENCES rate_schedules(id);
ALTER TABLE claims
    ADD CONSTRAINT claims_learner_id_fkey FOREIGN KEY (learner_id) REFERENCES learners(id),
    ADD CONSTRAINT claims_course_id_fkey FOREIGN KEY (course_id) REFERENCES courses(id),
    ADD CONSTRAINT claims_completion_id_fkey FOREIGN KEY (completion_id) REFERENCES completions(id);
ALTER TABLE learner_year_usage
    ADD CONSTRAINT learner_year_usage_payer_code_fkey FOREIGN KEY (payer_code) REFERENCES payers(code),
    ADD CONSTRAINT learner_year_usage_learner_id_fkey FOREIGN KEY (learner_id) REFERENCES learners(id);
ALTER TABLE platform_year_usage
    ADD CONSTRAINT platform_year_usage_payer_code_fkey FOREIGN KEY (payer_code) REFERENCES payers(code),
    ADD CONSTRAINT platform_year_usage_platform_code_fkey FOREIGN KEY (platform_code) REFERENCES platforms(code);
ALTER TABLE course_usage
    ADD CONSTRAINT course_usage_payer_code_fkey FOREIGN KEY (payer_code) REFERENCES payers(code),
    ADD CONSTRAINT course_usage_course_id_fkey FOREIGN KEY (course_id) REFERENCES courses(id);
ALTER TABLE invoice_completions
    ADD CONSTRAINT invoice_completions_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES invoices(id) ON DELETE CASCADE,
    ADD CONSTRAINT invoice_completions_completion_id_fkey FOREIGN KEY (completion_id) REFERENCES completions(id);
