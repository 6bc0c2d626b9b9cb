#!/bin/sh
# tls-ca.sh - a small private certificate authority made with the openssl command, for `make run` and the
# tests. Never for production certificates. Keys are EC P-256, written with mode 600; serial numbers are
# random (159 bits, rand_serial) as CA/B Forum rules ask, so scanners do not flag them.
#
#   tls-ca.sh init DIR [CN]          new CA in DIR (ca.key, ca.crt) and a server certificate for localhost,
#                                    127.0.0.1 and ::1 (server.key, server.crt); does nothing if DIR/ca.crt exists
#   tls-ca.sh client DIR NAME [expired]   client certificate DIR/NAME.crt + .key with CN=NAME (expired: 2020)
#   tls-ca.sh revoke DIR NAME        marks DIR/NAME.crt revoked in the CA database
#   tls-ca.sh crl DIR [expired]      writes DIR/crl.pem (valid 30 days, or already past its nextUpdate)
set -eu
umask 077

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 init|client|revoke|crl DIR ..." >&2; exit 2; }

write_config() {
    cat >"$dir/ca.cnf" <<EOF
[ ca ]
default_ca = rampart_ca
[ rampart_ca ]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
rand_serial = yes
crlnumber = \$dir/crlnumber
certificate = \$dir/ca.crt
private_key = \$dir/ca.key
default_md = sha256
default_days = 825
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = copy
[ policy_any ]
commonName = supplied
organizationName = optional
[ server_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
[ client_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[ ocsp_ext ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,OCSPSigning
EOF
}

new_key() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
    chmod 600 "$1"
}

case "$cmd" in
init)
    cn=${3:-Rampart private CA}
    [ -f "$dir/ca.crt" ] && exit 0
    mkdir -p "$dir/newcerts"
    dir=$(cd "$dir" && pwd)
    write_config
    : >"$dir/index.txt"
    echo 1000 >"$dir/serial"
    echo 1000 >"$dir/crlnumber"
    new_key "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 3650 -subj "/CN=$cn" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$dir/ca.crt" 2>/dev/null
    new_key "$dir/server.key"
    openssl req -new -key "$dir/server.key" -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" -out "$dir/server.csr" 2>/dev/null
    openssl ca -batch -config "$dir/ca.cnf" -extensions server_ext -notext -in "$dir/server.csr" \
        -out "$dir/server.crt" 2>/dev/null
    chmod 644 "$dir/ca.crt" "$dir/server.crt"
    ;;
client)
    name=${3:?client name}
    dir=$(cd "$dir" && pwd)
    new_key "$dir/$name.key"
    openssl req -new -key "$dir/$name.key" -subj "/O=Rampart tests/CN=$name" -out "$dir/$name.csr" 2>/dev/null
    if [ "${4:-}" = expired ]; then
        openssl ca -batch -config "$dir/ca.cnf" -extensions client_ext -notext -in "$dir/$name.csr" \
            -startdate 20200101000000Z -enddate 20200201000000Z -out "$dir/$name.crt" 2>/dev/null
    else
        openssl ca -batch -config "$dir/ca.cnf" -extensions client_ext -notext -in "$dir/$name.csr" \
            -out "$dir/$name.crt" 2>/dev/null
    fi
    ;;
ocsp-signer)
    dir=$(cd "$dir" && pwd)
    new_key "$dir/ocsp.key"
    openssl req -new -key "$dir/ocsp.key" -subj "/CN=Rampart test OCSP responder" -out "$dir/ocsp.csr" 2>/dev/null
    openssl ca -batch -config "$dir/ca.cnf" -extensions ocsp_ext -notext -in "$dir/ocsp.csr" \
        -out "$dir/ocsp.crt" 2>/dev/null
    ;;
revoke)
    name=${3:?client name}
    dir=$(cd "$dir" && pwd)
    openssl ca -config "$dir/ca.cnf" -revoke "$dir/$name.crt" 2>/dev/null
    ;;
crl)
    dir=$(cd "$dir" && pwd)
    if [ "${3:-}" = expired ]; then
        openssl ca -config "$dir/ca.cnf" -gencrl -crl_lastupdate 20200101000000Z \
            -crl_nextupdate 20200201000000Z -out "$dir/crl.pem.tmp" 2>/dev/null
    else
        openssl ca -config "$dir/ca.cnf" -gencrl -out "$dir/crl.pem.tmp" 2>/dev/null
    fi
    chmod 644 "$dir/crl.pem.tmp"
    mv "$dir/crl.pem.tmp" "$dir/crl.pem"
    ;;
*)
    echo "usage: $0 init|client|ocsp-signer|revoke|crl DIR ..." >&2
    exit 2
    ;;
esac
