package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrains: on SIGTERM the server finishes what it acknowledged,
// refuses new connections and exits within a bound.
func TestSIGTERMDrains(t *testing.T) {
	dir := realRunDir(t, "runs real processes")
	args := []string{"--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	s := start(t, args...)
	codes, tokens := setupOutlets(t, s, 2, 10000)
	load := startSales(s, codes, tokens, 6, "d")
	time.Sleep(1500 * time.Millisecond)
	began := time.Now()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.Logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server still running 20 s after SIGTERM")
	}
	acks := load.finish()
	t.Logf("exited %v after SIGTERM with %d sales acknowledged", time.Since(began).Round(time.Millisecond), len(acks))
	if _, err := net.DialTimeout("tcp", s.base[len("http://"):], time.Second); err == nil {
		t.Fatal("still accepting connections after shutdown")
	}
	s2 := start(t, args...)
	replayAll(t, s2, acks)
	s2.mustVerify(t, "after drain")
}

// TestTLS: with --tls-cert/--tls-key the node serves HTTPS only.
func TestTLS(t *testing.T) {
	dir := realRunDir(t, "runs real processes")
	cert, key := selfSigned(t, dir)
	addr := freeAddr(t)
	cmd := execServe(t, "--addr", addr, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--admin-token", adminToken, "--tls-cert", cert, "--tls-key", key)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	var err error
	for range 100 {
		var resp *http.Response
		resp, err = c.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("healthz over TLS: %d", resp.StatusCode)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on a TLS listener")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

func execServe(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), append([]string{"serve"}, args...)...)
	launch(t, cmd)
	return cmd
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}
