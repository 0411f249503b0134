package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// needTool returns the path of a program the deployment tests run (nginx,
// promtool, …): without it they skip, except under CI=true where it is a
// failure (.ci/run installs them).
func needTool(t *testing.T, name, pkg string, extra ...string) string {
	t.Helper()
	for _, p := range append([]string{name}, extra...) {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (Debian package %s); required under CI=true", name, pkg)
	}
	t.Skipf("%s not found: install Debian's %s to run this test", name, pkg)
	return ""
}

// repoFile is the path of a file of the repository (tests run in e2e/).
func repoFile(rel string) string { return filepath.Join("..", rel) }

// sharedTempDir is a temporary directory that other users (postgres,
// nginx's workers) may enter, removed when the test ends.
func sharedTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// pgNode is a PostgreSQL cluster of the test's own, on a free port. As
// root, it runs as the "postgres" user, as scripts/pg.sh does.
type pgNode struct {
	t    *testing.T
	bin  string
	data string
	log  string // the server's log, outside data (which may be cut)
	port int
}

func pgBinDir(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_basebackup")); err == nil {
			return dirs[i]
		}
	}
	if p, err := exec.LookPath("pg_basebackup"); err == nil {
		return filepath.Dir(p)
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("PostgreSQL server binaries not found (Debian package postgresql); required under CI=true")
	}
	t.Skip("PostgreSQL server binaries not found: install Debian's postgresql to run this test")
	return ""
}

// asPostgres runs a PostgreSQL program, as the postgres user when root.
func asPostgres(bin string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (c *pgNode) run(name string, args ...string) string {
	c.t.Helper()
	cmd := asPostgres(filepath.Join(c.bin, name), args...)
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePort(t *testing.T) int {
	t.Helper()
	a := freeAddr(t)
	p, _ := strconv.Atoi(a[strings.LastIndexByte(a, ':')+1:])
	return p
}

// newPrimary initialises and starts a cluster in dir.
func newPrimary(t *testing.T, dir string) *pgNode {
	t.Helper()
	c := initCluster(t, dir, "fsync = off\nmax_connections = 200\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n")
	c.start()
	return c
}

// initCluster initialises a cluster in dir/primary (dir must be one that
// the postgres user may enter: sharedTempDir), listening on a free port of
// 127.0.0.1 and with conf added to its postgresql.conf; it does not start it.
func initCluster(t *testing.T, dir, conf string) *pgNode {
	t.Helper()
	c := &pgNode{t: t, bin: pgBinDir(t), data: filepath.Join(dir, "primary"), log: filepath.Join(dir, "primary.log"), port: freePort(t)}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			t.Skip("running as root without a postgres user")
		}
		exec.Command("chown", "postgres:", dir).Run()
	}
	c.run("initdb", "-D", c.data, "-U", "postgres", "--auth-local=trust", "--auth-host=trust", "-E", "UTF8", "--locale=C")
	c.configure(fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nlog_min_messages = warning\n%s", c.port, dir, conf))
	return c
}

func (c *pgNode) configure(conf string) {
	c.t.Helper()
	cmd := asPostgres("sh", "-c", "cat >> "+filepath.Join(c.data, "postgresql.conf"))
	cmd.Stdin = strings.NewReader("\n" + conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("configure: %v %s", err, out)
	}
}

func (c *pgNode) start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-l", c.log, "-w", "-t", "60", "start")
	c.t.Cleanup(func() { c.stopQuiet() })
}

func (c *pgNode) stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
}

func (c *pgNode) stopQuiet() {
	cmd := asPostgres(filepath.Join(c.bin, "pg_ctl"), "-D", c.data, "-m", "immediate", "-w", "stop")
	cmd.Dir = "/"
	cmd.Run()
}

// standby makes a streaming standby of c with pg_basebackup -R and starts it.
func (c *pgNode) standby(dir string) *pgNode {
	c.t.Helper()
	s := &pgNode{t: c.t, bin: c.bin, data: filepath.Join(dir, "standby"), log: filepath.Join(dir, "standby.log"), port: freePort(c.t)}
	c.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-D", s.data, "-R", "-X", "stream", "-c", "fast")
	s.configure(fmt.Sprintf("port = %d\n", s.port))
	s.start()
	return s
}

// psql runs SQL (a file with -f, or -c) as the superuser.
func (c *pgNode) psql(db string, args ...string) string {
	c.t.Helper()
	return c.run("psql", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-d", db, "-v", "ON_ERROR_STOP=1", "-qAt"}, args...)...)
}

func (c *pgNode) dsn(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.port, db)
}

// sseEvent is one `event: outlet` of /api/v2/stream as a client saw it.
type sseEvent struct {
	id    int64
	code  string
	stock int
	at    time.Time
}

// sseClient follows a stream, keeping every outlet event.
type sseClient struct {
	mu     sync.Mutex
	events []sseEvent
	cancel context.CancelFunc
	done   chan struct{}
	header http.Header
}

func openStream(t *testing.T, url string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		cancel()
		t.Fatalf("stream %s: %d", url, resp.StatusCode)
	}
	c := &sseClient{cancel: cancel, done: make(chan struct{}), header: resp.Header}
	t.Cleanup(c.close)
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		p := newSSEParser(resp.Body)
		for {
			m, err := p.Next()
			if err != nil {
				return
			}
			if m.Name != "outlet" {
				continue
			}
			var o struct {
				Code  string `json:"code"`
				Stock *int   `json:"stock"`
			}
			if err := jsonUnmarshal([]byte(m.Data), &o); err != nil {
				continue
			}
			id, _ := strconv.ParseInt(m.ID, 10, 64)
			e := sseEvent{id: id, code: o.Code, at: m.At}
			if o.Stock != nil {
				e.stock = *o.Stock
			}
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

func (c *sseClient) snapshot() []sseEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]sseEvent(nil), c.events...)
}

// execBinary runs the publicmask binary to completion.
func execBinary(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	return exec.Command(binary(t), args...).CombinedOutput()
}
