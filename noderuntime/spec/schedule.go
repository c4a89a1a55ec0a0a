package spec

// The cron schedule of a cron service, in either of two forms: the
// standard five fields this node has always read, or the form of upstream
// ZLayer's spec (its Rust `cron` crate: seconds first, six fields, or
// seven with a year).

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// withSeconds reads the six-field form, seconds first.
var withSeconds = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// oneSecond is the only seconds field taken: a run starts at most once a
// minute, so the seconds field can only say at which second.
var oneSecond = regexp.MustCompile(`^[0-9]{1,2}$`)

// dowNumber is a day number in a day-of-week field: at the start, or
// after a list comma or a range dash (a number after a slash is a step).
var dowNumber = regexp.MustCompile(`(^|[,-])([0-9]+)`)

// ParseSchedule reads a cron schedule: the standard five fields (minute,
// hour, day of month, month, day of week) or a descriptor such as @hourly,
// @daily or @every 10m, as github.com/robfig/cron/v3 reads them; or
// upstream ZLayer's form, with a seconds field first and an optional
// year last.
func ParseSchedule(s string) (cron.Schedule, error) {
	f := strings.Fields(s)
	if len(f) != 6 && len(f) != 7 {
		sch, err := cron.ParseStandard(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a cron schedule (five fields: minute hour day-of-month month day-of-week, such as \"*/5 * * * *\"; six or seven with seconds first and a year last, such as \"0 */5 * * * * *\"; or a descriptor such as @hourly): %w", s, err)
		}
		return sch, nil
	}
	expr, err := upstreamFields(f)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	sch, err := withSeconds.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule (with seconds: second minute hour day-of-month month day-of-week [year], such as \"0 */5 * * * * *\"): %w", s, err)
	}
	return sch, nil
}

// upstreamFields turns upstream's six or seven fields into robfig's six:
// the seconds field must be one second, the year any year, and the days
// of the week, which upstream numbers 1 (Sunday) to 7 (Saturday), are
// renumbered 0 to 6.
func upstreamFields(f []string) (string, error) {
	if !oneSecond.MatchString(f[0]) {
		return "", fmt.Errorf("the seconds field must be one second such as 0, not %q: a run starts at most once a minute", f[0])
	}
	if len(f) == 7 {
		if y := f[6]; y != "*" && y != "?" {
			return "", fmt.Errorf("a year field other than * is not supported by this node, got %q", y)
		}
	}
	var bad error
	dow := dowNumber.ReplaceAllStringFunc(f[5], func(m string) string {
		sep, num := "", m
		if m[0] == ',' || m[0] == '-' {
			sep, num = m[:1], m[1:]
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 7 {
			bad = fmt.Errorf("day of week %s is out of range (with seconds first, days are numbered 1 for Sunday to 7 for Saturday, or named SUN-SAT)", num)
			return m
		}
		return sep + strconv.Itoa(n-1)
	})
	if bad != nil {
		return "", bad
	}
	return strings.Join(append(append([]string{}, f[:5]...), dow), " "), nil
}

// checkSchedule is the rule of schedule; ticks closer than a minute
// (@every 1s) are refused: a run is a container made and removed, and a
// busier schedule is a service.
func checkSchedule(s string) error {
	sch, err := ParseSchedule(s)
	if err != nil {
		return err
	}
	t := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if a := sch.Next(t); !a.IsZero() && sch.Next(a).Sub(a) < time.Minute {
		return fmt.Errorf("%q ticks more often than once a minute", s)
	}
	return nil
}
