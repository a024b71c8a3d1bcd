# shellcheck shell=bash
# Stand-ins for the key generators of Fuel's modules that the master runs (osnailyfacter's
# generate_keys.sh and generate_haproxy_keys.sh): they write the files the cluster's copy_files tasks then
# copy to the nodes, at the same places, with the same options. Keys are made with ssh-keygen and openssl
# when the node has them, else the files hold a placeholder text.

# fuel_generate_keys -p PATH -i CLUSTER [-s 'SSH SERVICES'] [-o 'OPENSSL SERVICES'] [-f 'FERNET INDICES']
fuel_generate_keys() {
  local path='' id='' ssh='' openssl_services='' fernet='' opt
  OPTIND=1
  while getopts 'p:i:s:o:f:' opt; do
    case $opt in
    p) path=$OPTARG ;;
    i) id=$OPTARG ;;
    s) ssh=$OPTARG ;;
    o) openssl_services=$OPTARG ;;
    f) fernet=$OPTARG ;;
    *) return 2 ;;
    esac
  done
  [ -n "$path" ] && [ -n "$id" ] || { echo 'generate_keys: -p PATH and -i CLUSTER are needed' >&2; return 2; }
  local dir=${path%/}/$id service index
  for service in $ssh; do
    mkdir -p "$dir/$service"
    [ -f "$dir/$service/$service" ] && continue
    if command -v ssh-keygen >/dev/null; then
      ssh-keygen -q -b 2048 -t rsa -N '' -C "$service" -f "$dir/$service/$service" </dev/null
    else
      echo "ssh key of $service (stand-in)" >"$dir/$service/$service"
      echo "ssh public key of $service (stand-in)" >"$dir/$service/$service.pub"
    fi
  done
  for service in $openssl_services; do
    mkdir -p "$dir/$service"
    [ -f "$dir/$service/$service.key" ] || fuel_random 741 >"$dir/$service/$service.key"
  done
  for index in $fernet; do
    mkdir -p "$dir/fernet-keys"
    [ -f "$dir/fernet-keys/$index" ] || fuel_random 32 | tr '+/' '-_' >"$dir/fernet-keys/$index"
  done
}

# fuel_generate_haproxy_keys -i CLUSTER -h HOSTNAME -o SERVICE -p PATH: a self-signed certificate.
fuel_generate_haproxy_keys() {
  local path='' id='' host='' service='' opt
  OPTIND=1
  while getopts 'p:i:h:o:' opt; do
    case $opt in
    p) path=$OPTARG ;;
    i) id=$OPTARG ;;
    h) host=$OPTARG ;;
    o) service=$OPTARG ;;
    *) return 2 ;;
    esac
  done
  local dir=${path%/}/$id/$service
  mkdir -p "$dir"
  if command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$host" \
      -keyout "$dir/public_$service.key" -out "$dir/public_$service.crt" 2>/dev/null
  else
    echo "key (stand-in)" >"$dir/public_$service.key"
    echo "certificate of $host (stand-in)" >"$dir/public_$service.crt"
  fi
  cat "$dir/public_$service.key" "$dir/public_$service.crt" >"$dir/public_$service.pem"
}

# fuel_random BYTES: that many random bytes, base64-encoded on one line.
fuel_random() {
  if command -v openssl >/dev/null; then openssl rand -base64 "$1" | tr -d '\n'; else head -c "$1" /dev/urandom | base64 -w0; fi
  echo
}
