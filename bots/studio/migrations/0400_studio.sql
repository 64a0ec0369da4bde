-- The example bot's business: a fitness studio's timetable, plans, opening hours and
-- the bookings people make. Timetable, plans and hours are public (no user data):
-- readable by `authenticated`, written only by the owner (`bot seed-demo`).
-- Bookings are user data: each person sees and cancels only their own; seats are
-- taken only through app.studio_book, which keeps capacity under concurrency.

CREATE TABLE app.studio_classes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    class_type       text NOT NULL,
    title            text NOT NULL,
    instructor       text NOT NULL,
    starts_at        timestamptz NOT NULL,
    duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
    capacity         integer NOT NULL CHECK (capacity > 0),
    room             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- one class per room at a time; also what makes seeding idempotent
    UNIQUE (room, starts_at)
);
CREATE INDEX studio_classes_starts ON app.studio_classes (starts_at);

CREATE TABLE app.studio_plans (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    price_cents integer NOT NULL CHECK (price_cents >= 0),
    currency    text NOT NULL DEFAULT 'USD',
    period      text NOT NULL CHECK (period IN ('visit', 'week', 'month', 'year')),
    description text NOT NULL DEFAULT '',
    perks       text[] NOT NULL DEFAULT '{}',
    sort_order  integer NOT NULL DEFAULT 0
);

-- Regular weekly hours, ISO weekday 1 = Monday … 7 = Sunday, in the studio's time zone.
CREATE TABLE app.studio_opening_hours (
    weekday smallint PRIMARY KEY CHECK (weekday BETWEEN 1 AND 7),
    opens   time NOT NULL,
    closes  time NOT NULL CHECK (closes > opens),
    note    text NOT NULL DEFAULT ''
);

CREATE TABLE app.studio_bookings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id      uuid NOT NULL REFERENCES app.contacts (id),
    class_id        bigint NOT NULL REFERENCES app.studio_classes (id),
    status          text NOT NULL DEFAULT 'booked' CHECK (status IN ('booked', 'cancelled')),
    idempotency_key text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    cancelled_at    timestamptz,
    cancel_key      text,
    CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL)),
    -- per person: one person's key can neither collide with nor reveal another's booking
    UNIQUE (contact_id, idempotency_key)
);
-- A person holds at most one live seat in a class (re-booking after a cancel is fine).
CREATE UNIQUE INDEX studio_bookings_one_seat ON app.studio_bookings (contact_id, class_id)
    WHERE status = 'booked';
CREATE INDEX studio_bookings_class ON app.studio_bookings (class_id) WHERE status = 'booked';

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['studio_classes', 'studio_plans', 'studio_opening_hours',
                           'studio_bookings']
  LOOP
    EXECUTE format('ALTER TABLE app.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE app.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON app.%I FROM PUBLIC, anon, authenticated, service_role', t);
    EXECUTE format('CREATE POLICY owner_all ON app.%I TO %I USING (true) WITH CHECK (true)',
                   t, current_user);
  END LOOP;
END
$$;

CREATE POLICY read_all ON app.studio_classes FOR SELECT TO authenticated USING (true);
CREATE POLICY read_all ON app.studio_plans FOR SELECT TO authenticated USING (true);
CREATE POLICY read_all ON app.studio_opening_hours FOR SELECT TO authenticated USING (true);
GRANT SELECT ON app.studio_classes, app.studio_plans, app.studio_opening_hours TO authenticated;

-- Bookings: read your own; the only change you may make is booked → cancelled.
-- No INSERT grant: a direct insert would skip the capacity check in app.studio_book.
CREATE POLICY self_read ON app.studio_bookings FOR SELECT TO authenticated
    USING (contact_id = auth.uid());
CREATE POLICY self_cancel ON app.studio_bookings FOR UPDATE TO authenticated
    USING (contact_id = auth.uid() AND status = 'booked')
    WITH CHECK (contact_id = auth.uid() AND status = 'cancelled');
GRANT SELECT ON app.studio_bookings TO authenticated;
GRANT UPDATE (status, cancelled_at, cancel_key) ON app.studio_bookings TO authenticated;

-- Seats taken per class, without saying by whom. The view runs with its owner's
-- rights (owner_all policy), so it counts every person's bookings but exposes only counts.
CREATE VIEW app.studio_class_availability AS
SELECT c.id, c.class_type, c.title, c.instructor, c.starts_at, c.duration_minutes,
       c.capacity, c.room,
       greatest(c.capacity - coalesce(b.taken, 0), 0)::integer AS seats_left
  FROM app.studio_classes c
  LEFT JOIN (SELECT class_id, count(*) AS taken FROM app.studio_bookings
              WHERE status = 'booked' GROUP BY class_id) b ON b.class_id = c.id;
REVOKE ALL ON app.studio_class_availability FROM PUBLIC;
GRANT SELECT ON app.studio_class_availability TO authenticated;

-- Book a seat for the acting person (auth.uid()). The class row is locked, so
-- concurrent bookings of one class queue up and the seat count is exact.
-- Idempotent: the same key returns the booking it made the first time.
-- outcome: booked | already_booked | full | started | not_found
CREATE FUNCTION app.studio_book(p_class_id bigint, p_idempotency_key text,
                                OUT outcome text, OUT booking_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, app AS $$
DECLARE
  v_contact uuid := auth.uid();
  v_class app.studio_classes;
  v_taken integer;
BEGIN
  IF v_contact IS NULL THEN
    RAISE EXCEPTION 'studio_book needs an acting user' USING ERRCODE = '42501';
  END IF;
  IF p_idempotency_key IS NULL OR length(p_idempotency_key) = 0 THEN
    RAISE EXCEPTION 'studio_book needs an idempotency key' USING ERRCODE = '22023';
  END IF;

  SELECT * INTO v_class FROM app.studio_classes WHERE id = p_class_id FOR UPDATE;

  -- Checked after the lock: a concurrent call with the same key has committed by now.
  SELECT b.id INTO booking_id FROM app.studio_bookings b
   WHERE b.contact_id = v_contact AND b.idempotency_key = p_idempotency_key;
  IF FOUND THEN
    outcome := 'booked';
    RETURN;
  END IF;

  IF v_class.id IS NULL THEN
    outcome := 'not_found';
    RETURN;
  END IF;
  IF v_class.starts_at <= now() THEN
    outcome := 'started';
    RETURN;
  END IF;

  SELECT b.id INTO booking_id FROM app.studio_bookings b
   WHERE b.contact_id = v_contact AND b.class_id = p_class_id AND b.status = 'booked';
  IF FOUND THEN
    outcome := 'already_booked';
    RETURN;
  END IF;

  SELECT count(*) INTO v_taken FROM app.studio_bookings b
   WHERE b.class_id = p_class_id AND b.status = 'booked';
  IF v_taken >= v_class.capacity THEN
    outcome := 'full';
    booking_id := NULL;
    RETURN;
  END IF;

  INSERT INTO app.studio_bookings (contact_id, class_id, idempotency_key)
       VALUES (v_contact, p_class_id, p_idempotency_key)
  RETURNING id INTO booking_id;
  outcome := 'booked';
END
$$;
REVOKE ALL ON FUNCTION app.studio_book(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.studio_book(bigint, text) TO authenticated, service_role;
