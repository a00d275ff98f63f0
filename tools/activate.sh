# fedchain: what `ape compile`, `ape test` and `ape run` need, set by `source .venv/bin/activate`
# (make setup appends a line sourcing this file, with FEDCHAIN_ROOT set, to the venv's
# activate script). The same four settings the Makefile exports: the solc shim and the anvil
# wrapper on PATH, ape's data folder inside the project, one torch thread (see README).
# Saved once: sourcing activate again (the venv redefines deactivate before it calls it, so
# ours does not run then) must not save our own values as the ones to restore.
if [ -z "${_FEDCHAIN_ACTIVE-}" ]; then
    _FEDCHAIN_OLD_SOLCX_BINARY_PATH="${SOLCX_BINARY_PATH-}"
    _FEDCHAIN_OLD_APE_DATA_FOLDER="${APE_DATA_FOLDER-}"
    _FEDCHAIN_OLD_OMP_NUM_THREADS="${OMP_NUM_THREADS-}"
    _FEDCHAIN_OLD_MKL_NUM_THREADS="${MKL_NUM_THREADS-}"
    _FEDCHAIN_ACTIVE=1
fi
# The venv saved PATH before prepending its bin; its deactivate restores that, dropping ours too.
export PATH="$FEDCHAIN_ROOT/tools/bin:$PATH"
export SOLCX_BINARY_PATH="$FEDCHAIN_ROOT/tools/bin"
export APE_DATA_FOLDER="$FEDCHAIN_ROOT/.ape"
export OMP_NUM_THREADS=1
export MKL_NUM_THREADS=1

# deactivate also restores the four settings (bash and zsh: typeset -f prints a function).
eval "$(typeset -f deactivate | sed '1s/^deactivate/_fedchain_venv_deactivate/')"
deactivate() {
    for _v in SOLCX_BINARY_PATH APE_DATA_FOLDER OMP_NUM_THREADS MKL_NUM_THREADS; do
        eval "_old=\"\${_FEDCHAIN_OLD_$_v}\""
        if [ -n "$_old" ]; then export "$_v=$_old"; else unset "$_v"; fi
        unset "_FEDCHAIN_OLD_$_v"
    done
    unset _v _old _FEDCHAIN_ACTIVE
    _fedchain_venv_deactivate "$@"
    [ "${1-}" = nondestructive ] || unset -f _fedchain_venv_deactivate
}
