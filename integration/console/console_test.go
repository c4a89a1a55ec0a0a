package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/zlayer/zlayer/integration/node"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// demoSpec writes a numbered line every half second, so that a follower
// can tell a new line from the ones it was given at first.
const demoSpec = `version: v1
deployment: demo
services:
  web:
    image: busybox
    command:
      entrypoint:
        - /bin/sh
        - -c
        - trap 'exit 0' TERM; i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.5; done
    scale:
      replicas: 1
`

// brokenSpec is refused at line 6 (a negative replica count).
const brokenSpec = `version: v1
deployment: broken
services:
  web:
    image: busybox
    scale: {replicas: -2}
`

// TestIntegrationConsole uses the console as an operator would, in
// headless Chromium against a real node running a real deployment: log
// in, see the services, scale 1→3 and watch the replicas appear without a
// reload, follow the logs and see a new line arrive, pause and search
// them, submit a broken spec and see the error at its line (and nothing
// applied), look at a read-only session, and delete the deployment.
// Screenshots at desktop and phone widths go to out/ui/.
func TestIntegrationConsole(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true})
	b := StartBrowser(t)
	b.Shots = filepath.Join(s.RepoRoot, "out", "ui")
	b.Copy = os.Getenv("ZLAYER_UI_SHOTS")
	b.CopyOnly = map[string]bool{"deployments": true, "deployment": true, "deployment-dark": true, "logs": true, "editor": true}
	n := node.StartNode(t, s)
	n.MustCLI("deploy", n.WriteSpec("demo.yaml", demoSpec), "--no-wait")
	n.WaitFor("demo ready", 90*time.Second, func() bool { return n.Ready("demo") })
	base := "https://" + n.Bind

	b.Do("open the console", 30*time.Second, chromedp.Navigate(base+"/ui/"))
	b.Wait("the login form", `!!document.querySelector('#token')`, 15*time.Second)
	b.Shot("login")
	b.Input("#token", "not the token")
	b.Click("button[type=submit]")
	b.Wait("a refused login's message", `document.querySelector('.login .error')?.textContent.includes('token')`, 10*time.Second)
	login(b, n.Token(false))

	// The services: one replica of one, ready.
	row := `document.querySelector('tr[data-service="demo/web"] .ready')?.textContent`
	b.Wait("demo/web 1/1 in the list", row+` === '1/1'`, 20*time.Second)
	b.Wait("the live indicator", `document.querySelector('#live')?.textContent === 'live'`, 10*time.Second)
	b.Shot("deployments")

	// Scale 1→3: the replicas appear in the open page, which never loads
	// again (the mark set in it survives).
	// By keyboard: the first Tab reaches the skip link, the next the
	// views; Enter on a focused link opens it.
	JS[any](b, `document.activeElement?.blur()`)
	b.Do("Tab", 5*time.Second, chromedp.KeyEvent("\t"))
	if got := JS[string](b, `document.activeElement?.className + ' ' + document.activeElement?.textContent`); got != "skip Skip to content" {
		t.Errorf("the first Tab focused %q", got)
	}
	b.Do("Tab", 5*time.Second, chromedp.KeyEvent("\t"))
	if got := JS[string](b, `document.activeElement?.textContent`); got != "Deployments" {
		t.Errorf("the second Tab focused %q", got)
	}
	JS[any](b, `document.querySelector('tr[data-service="demo/web"] a').focus()`)
	b.Do("Enter on the deployment", 5*time.Second, chromedp.KeyEvent("\r"))
	b.Wait("the deployment's replicas", `document.querySelectorAll('tr.replica').length === 1`, 15*time.Second)
	JS[any](b, `window.__zlMark = 'same page'`)
	b.Input("#scale-web", "3")
	b.Click(`article[data-service="web"] form.inline button[type=submit]`)
	took := b.Wait("three replicas in the open page", `document.querySelectorAll('tr.replica').length === 3`, 60*time.Second)
	t.Logf("replicas 2 and 3 showed %s after the scale", took.Round(time.Millisecond))
	b.Wait("3/3 ready", `document.querySelector('article[data-service="web"] .ready')?.textContent === '3/3 ready'`, 90*time.Second)
	if mark := JS[string](b, `String(window.__zlMark)`); mark != "same page" {
		t.Fatalf("the page loaded again during the scale (mark %q)", mark)
	}
	if st, err := n.API.Get(context.Background(), "demo"); err != nil || st.Services[0].Desired != 3 {
		t.Fatalf("the node after the console's scale: %+v %v", st, err)
	}
	b.Shot("deployment")
	// Dark as the system asks: the page's own background follows.
	b.ColorScheme("dark")
	if bg := JS[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark scheme: the background is %s", bg)
	}
	b.Shot("deployment-dark")
	b.ColorScheme("light")
	if bg := JS[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(255, 255, 255)" {
		t.Errorf("light scheme: the background is %s", bg)
	}

	// Restart rolls the service: a new generation, shown live, and every
	// replica replaced and ready again.
	pids := node.PIDsOf(n.Replicas("demo", "web"))
	b.Click("#restart-web")
	b.Wait("generation 3 after the restart", `document.querySelector('#generation')?.textContent === 'generation 3'`, 20*time.Second)
	n.WaitFor("every replica replaced", 90*time.Second, func() bool {
		rs := n.Replicas("demo", "web")
		if len(rs) != 3 {
			return false
		}
		for _, r := range rs {
			if pids[r.ID] == r.PID || r.PID == 0 {
				return false
			}
		}
		return n.Ready("demo")
	})
	b.Wait("3/3 ready after the restart", `document.querySelector('article[data-service="web"] .ready')?.textContent === '3/3 ready'`, 30*time.Second)

	// Edit spec opens the text last applied.
	b.Go("#/deploy/demo")
	b.Wait("the applied spec in the editor", `document.querySelector('#spec')?.value.includes('deployment: demo') && document.querySelector('#spec').value.includes('tick $i')`, 10*time.Second)

	// Logs of replica 1: follow, see a line newer than any shown at
	// first; pause holds the view still; search filters it.
	b.Go("#/logs/demo/web?replica=1")
	b.Wait("log lines", `document.querySelectorAll('#log-lines .line').length > 2`, 30*time.Second)
	first := JS[float64](b, lastTick)
	b.Wait("a new log line", lastTick+` > `+strconv.Itoa(int(first)), 15*time.Second)
	b.Click("#log-pause")
	b.Wait("paused", `document.querySelector('#log-status').textContent.includes('paused')`, 5*time.Second)
	held := JS[float64](b, `document.querySelectorAll('#log-lines .line').length`)
	b.Wait("lines held while paused", `/paused \([1-9]/.test(document.querySelector('#log-status').textContent)`, 10*time.Second)
	if now := JS[float64](b, `document.querySelectorAll('#log-lines .line').length`); now != held {
		t.Errorf("the paused view changed from %v to %v lines", held, now)
	}
	b.Click("#log-pause")
	b.Wait("held lines shown on resume", `document.querySelectorAll('#log-lines .line').length > `+strconv.Itoa(int(held)), 10*time.Second)
	JS[any](b, `document.activeElement?.blur()`)
	b.Do("the / key", 5*time.Second, chromedp.KeyEvent("/"))
	if got := JS[string](b, `document.activeElement?.id`); got != "log-search" {
		t.Errorf("/ focused %q, not the log search", got)
	}
	b.Input("#log-search", "/tick 1\\d*$/")
	b.Wait("only matching lines", `(() => { const ls = [...document.querySelectorAll('#log-lines .line')];
		return ls.length > 0 && ls.every(l => /tick 1\d*$/.test(l.textContent)) })()`, 10*time.Second)
	b.Input("#log-search", "")
	b.Shot("logs")

	// A broken spec: the error shows at its line before anything is
	// applied.
	b.Go("#/deploy")
	b.Wait("the editor", `!!document.querySelector('#spec')`, 10*time.Second)
	b.Input("#spec", brokenSpec)
	b.Click("#apply")
	b.Wait("the error at line 6", `document.querySelector('#spec-errors')?.textContent.includes('line 6, column')`, 15*time.Second)
	if !JS[bool](b, `!!document.querySelector('.gutter [data-line="6"].err') && !document.querySelector('.gutter [data-line="5"].err')`) {
		t.Errorf("line 6, and only it, should be marked in the gutter\npage: %s", b.state())
	}
	var nf *apiclient.Error
	if _, err := n.API.Get(context.Background(), "broken"); !errors.As(err, &nf) || nf.Status != 404 {
		t.Fatalf("the broken spec was applied: %v", err)
	}
	b.Shot("editor")

	b.Go("#/images")
	b.Wait("the images", `document.body.innerText.includes('busybox')`, 15*time.Second)
	b.Shot("images")
	// Requests through the ingress to a public endpoint: the chart shows
	// that endpoint's rate.
	port, target := node.FreePort(t), node.FreePort(t)
	n.MustCLI("deploy", n.WriteSpec("site.yaml", siteSpec(port, target)))
	stopLoad := loadEndpoint(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	b.Go("#/metrics")
	b.Wait("the rate of site/web/http", `[...document.querySelectorAll('#rate-chart ~ .legend li')].some(li =>
		li.textContent.includes('site/web/http') && parseFloat(li.textContent.trim().split(' ').pop()) > 0)`, 30*time.Second)
	// Two readings with a rate make a line, not a lone point.
	b.Wait("a line in the rate chart", `[...document.querySelectorAll('#rate-chart polyline')].some(p => p.getAttribute('points').trim().split(' ').length >= 2)`, 15*time.Second)
	b.Shot("metrics")
	if ok := stopLoad(); ok == 0 {
		t.Error("no request through the ingress answered 200")
	}

	// A read token gets a read-only console: no scale, restart, delete.
	b.Click("header button.link")
	b.Wait("the login after log out", `!!document.querySelector('#token')`, 10*time.Second)
	login(b, n.Token(true))
	b.Go("#/deployments/demo")
	b.Wait("the read-only deployment", `document.querySelectorAll('tr.replica').length === 3 && !!document.querySelector('#readonly')`, 15*time.Second)
	if JS[bool](b, `!!document.querySelector('#scale-web, button.danger, #confirm-delete')`) {
		t.Errorf("a read-only session shows write controls\npage: %s", b.state())
	}
	b.Click("header button.link")
	b.Wait("the login after log out", `!!document.querySelector('#token')`, 10*time.Second)
	login(b, n.Token(false))

	// Delete, confirmed; the list no longer shows it.
	b.Go("#/deployments/demo")
	b.Wait("the deployment", `document.querySelectorAll('tr.replica').length === 3`, 15*time.Second)
	b.Click("button.danger")
	b.Click("#confirm-delete")
	b.Wait("back at the list without demo", `location.hash === '#/deployments' && !!document.querySelector('#totals') && !document.querySelector('tr[data-service="demo/web"]')`, 90*time.Second)
	if _, err := n.API.Get(context.Background(), "demo"); !errors.As(err, &nf) || nf.Status != 404 {
		t.Fatalf("demo after the console deleted it: %v", err)
	}
	if rs := n.Replicas("demo", "web"); len(rs) != 0 {
		t.Fatalf("replicas left after delete: %d", len(rs))
	}
}

// siteSpec serves a page on a public endpoint: the ingress listens on
// port, the replica (on the host's network) on target.
func siteSpec(port, target int) string {
	return fmt.Sprintf(`version: v1
deployment: site
services:
  web:
    image: busybox
    network_mode: host
    command:
      entrypoint: [/bin/sh, -c]
      args: ['mkdir -p /tmp/www && echo hi > /tmp/www/index.html && exec httpd -f -p %[2]d -h /tmp/www']
    endpoints:
      - {name: http, protocol: http, port: %[1]d, target_port: %[2]d, expose: public}
    health: {interval: 500ms, check: {type: tcp, port: %[2]d}}
`, port, target)
}

// loadEndpoint sends a request to url every 50ms until the returned stop
// is called, which returns how many were answered 200.
func loadEndpoint(t *testing.T, url string) (stop func() int) {
	done := make(chan struct{})
	count := make(chan int, 1)
	go func() {
		c := &http.Client{Timeout: 2 * time.Second}
		ok := 0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				count <- ok
				return
			case <-tick.C:
			}
			resp, err := c.Get(url)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			}
		}
	}()
	var once sync.Once
	answered := 0
	stop = func() int {
		once.Do(func() {
			close(done)
			answered = <-count
		})
		return answered
	}
	t.Cleanup(func() { stop() })
	return stop
}

// lastTick is the highest "tick N" shown.
const lastTick = `Math.max(-1, ...[...document.querySelectorAll('#log-lines .line')].map(l => { const m = /tick (\d+)/.exec(l.textContent); return m ? Number(m[1]) : -1 }))`

func login(b *Browser, token string) {
	b.t.Helper()
	b.Wait("the login form", `!!document.querySelector('#token')`, 10*time.Second)
	b.Input("#token", strings.TrimSpace(token))
	b.Click("button[type=submit]")
	b.Wait("logged in", `!!document.querySelector('header nav')`, 15*time.Second)
}
