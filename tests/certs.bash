# certs.bash - a throw-away PKI for the TLS tests, made with GnuTLS's certtool
# (Debian's gnutls-bin). `cp_make_pki DIR` writes, in DIR (made 0700):
#   ca.crt ca.key                 the test CA ("cp test CA")
#   server.crt server.key         signed by the CA for localhost, cp.test,
#                                 127.0.0.1 and ::1; valid now
#   expired.crt expired.key       the same names, signed by the CA, expired
#   wronghost.crt wronghost.key   signed by the CA, for other.test only
#   otherca.crt otherca.key       a second CA nobody trusts
#   rogue.crt rogue.key           localhost etc., signed by the second CA
#   selfsigned.crt selfsigned.key self-signed for localhost etc. (TOFU tests)
# Keys are ECDSA P-256 (fast to make and to verify). Skips nothing itself:
# callers check `command -v certtool` and skip with a reason.

# _cp_cert_template FILE CN [extra template lines...]
_cp_cert_template() {
	local file=$1 cn=$2
	shift 2
	{
		printf 'cn = "%s"\n' "$cn"
		printf 'organization = "cp tests"\n'
		printf 'serial = %d\n' "$((RANDOM * 32768 + RANDOM + 1))"
		local line
		for line in "$@"; do
			printf '%s\n' "$line"
		done
	} >"$file"
}

# Template lines of a TLS server certificate for this machine's loopback.
_CP_SERVER_NAMES=(
	'dns_name = "localhost"' 'dns_name = "cp.test"'
	'ip_address = "127.0.0.1"' 'ip_address = "::1"'
	'tls_www_server' 'signing_key' 'encryption_key'
)

# _cp_key FILE: a new ECDSA P-256 key, mode 0600.
_cp_key() {
	(umask 077 && certtool --generate-privkey --key-type=ecdsa \
		--curve=secp256r1 --outfile "$1" >/dev/null 2>&1)
}

# _cp_ca NAME DIR: a self-signed CA NAME.crt/NAME.key in DIR.
_cp_ca() {
	local name=$1 dir=$2
	_cp_key "$dir/$name.key"
	_cp_cert_template "$dir/$name.tmpl" "cp test $name" \
		'ca' 'cert_signing_key' 'expiration_days = 30'
	certtool --generate-self-signed --load-privkey "$dir/$name.key" \
		--template "$dir/$name.tmpl" --outfile "$dir/$name.crt" >/dev/null 2>&1
}

# _cp_leaf NAME CA DIR [template lines...]: NAME.crt/NAME.key signed by CA.
_cp_leaf() {
	local name=$1 ca=$2 dir=$3
	shift 3
	_cp_key "$dir/$name.key"
	_cp_cert_template "$dir/$name.tmpl" "$name" "$@"
	certtool --generate-certificate --load-privkey "$dir/$name.key" \
		--load-ca-certificate "$dir/$ca.crt" \
		--load-ca-privkey "$dir/$ca.key" \
		--template "$dir/$name.tmpl" --outfile "$dir/$name.crt" >/dev/null 2>&1
}

# cp_make_pki DIR: the whole set above. Returns non-zero if certtool fails.
cp_make_pki() {
	local dir=$1
	mkdir -p "$dir" && chmod 0700 "$dir" || return 1
	_cp_ca ca "$dir" || return 1
	_cp_ca otherca "$dir" || return 1
	_cp_leaf server ca "$dir" "${_CP_SERVER_NAMES[@]}" \
		'expiration_days = 30' || return 1
	_cp_leaf expired ca "$dir" "${_CP_SERVER_NAMES[@]}" \
		'activation_date = "2020-01-01 00:00:00 UTC"' \
		'expiration_date = "2020-02-01 00:00:00 UTC"' || return 1
	_cp_leaf wronghost ca "$dir" 'dns_name = "other.test"' 'tls_www_server' \
		'signing_key' 'encryption_key' 'expiration_days = 30' || return 1
	_cp_leaf rogue otherca "$dir" "${_CP_SERVER_NAMES[@]}" \
		'expiration_days = 30' || return 1
	_cp_key "$dir/selfsigned.key"
	_cp_cert_template "$dir/selfsigned.tmpl" "localhost" \
		"${_CP_SERVER_NAMES[@]}" 'expiration_days = 30'
	certtool --generate-self-signed --load-privkey "$dir/selfsigned.key" \
		--template "$dir/selfsigned.tmpl" --outfile "$dir/selfsigned.crt" \
		>/dev/null 2>&1 || return 1
	rm -f "$dir"/*.tmpl
}

# cp_cert_fingerprint CRT: "SHA256:<base64>" of the certificate's public key
# (the form cpchat prints, pins and keeps in known_servers; like ssh's).
cp_cert_fingerprint() {
	certtool --certificate-pubkey --infile "$1" --outder 2>/dev/null |
		openssl pkey -pubin -inform DER -outform DER 2>/dev/null |
		openssl dgst -sha256 -binary | openssl base64 -A |
		sed 's/=*$//; s/^/SHA256:/'
}
