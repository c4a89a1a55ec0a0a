package spec

import (
	"testing"
	"time"
)

// TestScheduleForms: the five-field form and upstream's six and seven
// fields (seconds first, a year last) tick at the same times, and
// upstream's day numbers (1 is Sunday) mean the days upstream means.
func TestScheduleForms(t *testing.T) {
	// 2026-01-01 was a Thursday.
	from := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		want []time.Time
	}{
		{"0 3 * * *", []time.Time{time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}},
		{"0 0 3 * * * *", []time.Time{time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}},
		{"15 0 3 * * ?", []time.Time{time.Date(2026, 1, 1, 3, 0, 15, 0, time.UTC), time.Date(2026, 1, 2, 3, 0, 15, 0, time.UTC)}},
		{"0 */5 * * * * *", []time.Time{time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)}},
		// Weekdays at noon, by name and by upstream's numbers (2-6 is
		// Monday to Friday there): Thursday, Friday, then Monday.
		{"0 0 12 * * MON-FRI *", []time.Time{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)}},
		{"0 0 12 * * 2-6 *", []time.Time{time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)}},
		// 1 and 7 are Sunday and Saturday.
		{"0 0 12 * * 1,7", []time.Time{time.Date(2026, 1, 3, 12, 0, 0, 0, time.UTC), time.Date(2026, 1, 4, 12, 0, 0, 0, time.UTC)}},
	} {
		sch, err := ParseSchedule(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if err := checkSchedule(tc.expr); err != nil {
			t.Fatalf("%q refused: %v", tc.expr, err)
		}
		at := from
		for i, w := range tc.want {
			at = sch.Next(at)
			if !at.Equal(w) {
				t.Errorf("%q tick %d: %v, want %v", tc.expr, i, at, w)
			}
		}
	}
}

// TestScheduleFormsRefused: what upstream's form may say that this node
// does not do is refused with a reason.
func TestScheduleFormsRefused(t *testing.T) {
	for _, expr := range []string{
		"* * * * * *",      // every second
		"0,30 * * * * *",   // twice a minute
		"0 0 3 * * * 2030", // one year only
		"0 0 3 * * 8",      // no day 8
		"0 0 3 * * 0-2",    // upstream has no day 0
		"0 0 3 * * * * *",  // eight fields
		"0 61 3 * * *",     // no minute 61
	} {
		if err := checkSchedule(expr); err == nil {
			t.Errorf("%q accepted", expr)
		}
	}
}
