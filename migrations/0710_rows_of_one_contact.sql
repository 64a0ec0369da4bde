-- A row's references stay within its contact. The per-user role could insert a message
-- with its own contact_id pointing at another person's conversation or session (staff
-- then saw the stranger's text in that person's transcript). The checks read the
-- referenced rows under the same row-level security, so another person's row is never
-- found. (A message's reply_to is left to the foreign key: a policy on messages that
-- queried messages would recurse.)
DROP POLICY self ON app.messages;
CREATE POLICY self ON app.messages FOR ALL TO authenticated
    USING (contact_id = auth.uid())
    WITH CHECK (
        contact_id = auth.uid()
        AND EXISTS (SELECT 1 FROM app.conversations c
                     WHERE c.id = conversation_id AND c.contact_id = auth.uid())
        AND (session_id IS NULL OR EXISTS (SELECT 1 FROM app.sessions s
                     WHERE s.id = session_id AND s.contact_id = auth.uid())));

DROP POLICY self ON app.sessions;
CREATE POLICY self ON app.sessions FOR ALL TO authenticated
    USING (contact_id = auth.uid())
    WITH CHECK (
        contact_id = auth.uid()
        AND EXISTS (SELECT 1 FROM app.conversations c
                     WHERE c.id = conversation_id AND c.contact_id = auth.uid()));

DROP POLICY self ON app.intent_classifications;
CREATE POLICY self ON app.intent_classifications FOR ALL TO authenticated
    USING (contact_id = auth.uid())
    WITH CHECK (
        contact_id = auth.uid()
        AND EXISTS (SELECT 1 FROM app.messages m
                     WHERE m.id = message_id AND m.contact_id = auth.uid()));
