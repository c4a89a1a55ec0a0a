// Package console drives the node's web console in headless Chromium
// (Debian's chromium, through chromedp) against a real `zlayer serve`.
package console

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/zlayer/zlayer/integration/stack"
)

// Sizes of the screenshots and layout checks: a desktop and a phone.
const (
	DesktopWidth  = 1280
	DesktopHeight = 860
	PhoneWidth    = 375
	PhoneHeight   = 812
)

// ChromiumPath is the browser: ZLAYER_CHROMIUM, else Debian's.
func ChromiumPath() (string, error) {
	p := os.Getenv("ZLAYER_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(p); err != nil {
		return "", fmt.Errorf("no chromium at %s (make deps installs Debian's): %w", p, err)
	}
	return p, nil
}

// Browser is one headless Chromium with a private profile, and the tab
// the test drives.
type Browser struct {
	t   testing.TB
	ctx context.Context
	// Shots is where Shot writes its screenshots; Copy, when set, gets a
	// copy of those named in CopyOnly (the README's, by make ui-shots).
	Shots, Copy string
	CopyOnly    map[string]bool
}

// StartBrowser starts Chromium; the test's cleanup stops it. Without a
// browser the test skips, or fails under ZLAYER_INTEGRATION=require.
func StartBrowser(t testing.TB) *Browser {
	t.Helper()
	path, err := ChromiumPath()
	if err != nil {
		if stack.Required() {
			t.Fatalf("%v (ZLAYER_INTEGRATION=require)", err)
		}
		t.Skip(err)
	}
	profile, err := os.MkdirTemp("", "zlchrome")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(profile) })
	// The flags known to run Debian's chromium headless as root here; the
	// node's certificate is from its own CA, which this profile does not
	// trust.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(profile), chromedp.IgnoreCertErrors,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(DesktopWidth, DesktopHeight),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(DesktopWidth, DesktopHeight)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{t: t, ctx: ctx}
}

// Do runs steps, failing the test with what on an error.
func (b *Browser) Do(what string, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage: %s", what, err, b.state())
	}
}

// JS evaluates expr in the page.
func JS[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// Wait polls expr until it is truthy, within limit.
func (b *Browser) Wait(what, expr string, limit time.Duration) time.Duration {
	b.t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(b.ctx, limit+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[any](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	if err != nil {
		b.t.Fatalf("waiting %s for %s (%s): %v\npage: %s", limit, what, expr, err, b.state())
	}
	return time.Since(start)
}

// state is what the page shows, for a failure's message.
func (b *Browser) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText.slice(0, 3000)`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// Input sets a field's value as typing would (the page reads input events).
func (b *Browser) Input(sel, value string) {
	b.t.Helper()
	ok := JS[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) return false;
		e.focus(); e.value = %s; e.dispatchEvent(new Event('input', {bubbles: true})); return true })()`, strconv.Quote(sel), strconv.Quote(value)))
	if !ok {
		b.t.Fatalf("no %s on the page\npage: %s", sel, b.state())
	}
}

// Click clicks the first element sel matches, once it is visible.
func (b *Browser) Click(sel string) {
	b.t.Helper()
	b.Do("click "+sel, 20*time.Second, chromedp.Click(chromedp.CSS(sel)))
}

// Go sets the page's location hash: a view change inside the page.
func (b *Browser) Go(hash string) {
	b.t.Helper()
	JS[any](b, fmt.Sprintf(`location.hash = %s`, strconv.Quote(hash)))
}

// ColorScheme makes the page see prefers-color-scheme: scheme (light or
// dark), as a system set that way would.
func (b *Browser) ColorScheme(scheme string) {
	b.t.Helper()
	b.Do("prefers-color-scheme "+scheme, 10*time.Second, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// Shot writes name-desktop.png and name-phone.png of the page as it is,
// and checks that at the phone's width nothing makes the page scroll
// sideways (wide tables scroll inside their own box).
func (b *Browser) Shot(name string) {
	b.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", DesktopWidth, DesktopHeight, false}, {"phone", PhoneWidth, PhoneHeight, true}} {
		vp := chromedp.EmulateViewport(v.w, v.h)
		if v.mobile {
			vp = chromedp.EmulateViewport(v.w, v.h, chromedp.EmulateMobile, chromedp.EmulateScale(2))
		}
		b.Do("viewport "+v.suffix, 10*time.Second, vp)
		// Let the layout settle at the new width before measuring.
		b.Wait("layout at "+v.suffix+" width", fmt.Sprintf(`window.innerWidth === %d`, v.w), 5*time.Second)
		if v.mobile {
			if over := JS[float64](b, `document.documentElement.scrollWidth - window.innerWidth`); over > 0 {
				b.t.Errorf("%s at %d px scrolls sideways by %v px", name, v.w, over)
			}
		}
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		file := name + "-" + v.suffix + ".png"
		for i, dir := range []string{b.Shots, b.Copy} {
			if dir == "" || (i == 1 && !b.CopyOnly[name]) {
				continue
			}
			if err := errors.Join(os.MkdirAll(dir, 0o755), os.WriteFile(filepath.Join(dir, file), png, 0o644)); err != nil {
				b.t.Fatal(err)
			}
		}
	}
	b.Do("viewport back to desktop", 10*time.Second, chromedp.EmulateViewport(DesktopWidth, DesktopHeight))
}
