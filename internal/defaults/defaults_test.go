package defaults

import (
	"strings"
	"testing"
	"time"
)

type limits struct {
	Timeout time.Duration
	Conns   int
	Bytes   int64
	Small   int8
	Ratio   float64
}

var def = limits{Timeout: time.Second, Conns: 10, Bytes: 1 << 20, Small: 3, Ratio: 0.5}

func TestFillZeroAndNegative(t *testing.T) {
	got := Fill(limits{Timeout: -1, Bytes: -5}, def)
	if got != def {
		t.Fatalf("Fill = %+v, want the defaults %+v", got, def)
	}
}

func TestFillKeepsSetFields(t *testing.T) {
	in := limits{Timeout: 2 * time.Minute, Conns: 1, Bytes: 7, Small: 1, Ratio: 2}
	if got := Fill(in, def); got != in {
		t.Fatalf("Fill = %+v, want it unchanged %+v", got, in)
	}
	mixed := Fill(limits{Conns: 4}, def)
	want := def
	want.Conns = 4
	if mixed != want {
		t.Fatalf("Fill = %+v, want %+v", mixed, want)
	}
}

func TestFillDoesNotChangeItsArguments(t *testing.T) {
	in := limits{}
	d := def
	_ = Fill(in, d)
	if in != (limits{}) || d != def {
		t.Fatalf("Fill changed its arguments: %+v, %+v", in, d)
	}
}

func TestFillRefusesFieldsWithoutAnUnsetValue(t *testing.T) {
	type withBool struct {
		Conns int
		On    bool
	}
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "withBool.On is a bool") {
			t.Fatalf("panic %q, want one naming the bool field", msg)
		}
	}()
	Fill(withBool{}, withBool{Conns: 1, On: true})
	t.Fatal("Fill accepted a bool field")
}

func TestFillRefusesNonStructs(t *testing.T) {
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "is not a struct") {
			t.Fatalf("panic %q, want one saying int is not a struct", msg)
		}
	}()
	Fill(3, 4)
	t.Fatal("Fill accepted an int")
}

func BenchmarkFill(b *testing.B) {
	for b.Loop() {
		_ = Fill(limits{Conns: 4}, def)
	}
}
