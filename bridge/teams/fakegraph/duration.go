package fakegraph

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseISODuration parses an ISO-8601 duration such as PT5M, PT1H30M, P1D,
// P1W or PT0.5S, the forms kiota's ISODuration writes. Years and months are
// taken as 365 and 30 days; Graph gives them no exact meaning for presence
// either. Negative durations are refused.
func parseISODuration(s string) (time.Duration, error) {
	in := s
	if !strings.HasPrefix(s, "P") && !strings.HasPrefix(s, "p") {
		return 0, fmt.Errorf("%q does not start with P", in)
	}
	s = s[1:]
	if s == "" {
		return 0, fmt.Errorf("%q has no components", in)
	}
	const day = 24 * time.Hour
	var total float64 // nanoseconds; float so fractions of any unit work
	inTime, seen, last := false, false, ""
	for s != "" {
		if s[0] == 'T' || s[0] == 't' {
			if inTime {
				return 0, fmt.Errorf("%q has two T separators", in)
			}
			inTime, s = true, s[1:]
			if s == "" {
				return 0, fmt.Errorf("%q ends after T", in)
			}
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == ',') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("%q: expected a number followed by a unit", in)
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(s[:i], ",", "."), 64)
		if err != nil {
			return 0, fmt.Errorf("%q: bad number %q", in, s[:i])
		}
		unit := strings.ToUpper(s[i : i+1])
		var per time.Duration
		switch {
		case !inTime && unit == "Y":
			per = 365 * day
		case !inTime && unit == "M":
			per = 30 * day
		case !inTime && unit == "W":
			per = 7 * day
		case !inTime && unit == "D":
			per = day
		case inTime && unit == "H":
			per = time.Hour
		case inTime && unit == "M":
			per = time.Minute
		case inTime && unit == "S":
			per = time.Second
		default:
			return 0, fmt.Errorf("%q: unit %s is not valid here", in, unit)
		}
		key := unit
		if inTime {
			key = "T" + unit
		}
		if strings.Contains(last, "|"+key+"|") {
			return 0, fmt.Errorf("%q repeats unit %s", in, unit)
		}
		last += "|" + key + "|"
		total += n * float64(per)
		if total > math.MaxInt64/2 {
			return 0, fmt.Errorf("%q is too long", in)
		}
		seen = true
		s = s[i+1:]
	}
	if !seen {
		return 0, fmt.Errorf("%q has no components", in)
	}
	return time.Duration(total), nil
}

// formatISODuration writes d the way Graph echoes durations.
func formatISODuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("P")
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dD", days)
		d -= days * 24 * time.Hour
	}
	if d > 0 {
		b.WriteString("T")
		if h := d / time.Hour; h > 0 {
			fmt.Fprintf(&b, "%dH", h)
			d -= h * time.Hour
		}
		if m := d / time.Minute; m > 0 {
			fmt.Fprintf(&b, "%dM", m)
			d -= m * time.Minute
		}
		if d > 0 {
			b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S")
		}
	}
	return b.String()
}
