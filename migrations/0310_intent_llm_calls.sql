-- The intent classifier's LLM fallback records its calls in app.llm_calls as purpose
-- 'intent', so its cost counts towards the caps and shows apart from answers.
ALTER TABLE app.llm_calls DROP CONSTRAINT llm_calls_purpose_check;
ALTER TABLE app.llm_calls ADD CONSTRAINT llm_calls_purpose_check
    CHECK (purpose IN ('answer', 'summary', 'intent'));
