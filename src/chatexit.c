/* chatexit.c - the exit status cpchat ends with for each protocol client
 * result (chatexit.h): one mapping for the one-shot commands and the
 * interactive mode alike. Protocol client layer, the bottom one. */
#include "chatexit.h"

int cpchat_exit_code(enum client_result r)
{
	switch (r) {
	case CLIENT_OK:         return CPCHAT_EXIT_OK;
	case CLIENT_E_CONNECT:
	case CLIENT_E_LOST:     return CPCHAT_EXIT_CONNECT;
	case CLIENT_E_AUTH:     return CPCHAT_EXIT_AUTH;
	case CLIENT_E_NO_RCPT:  return CPCHAT_EXIT_NO_RCPT;
	case CLIENT_E_REFUSED:  return CPCHAT_EXIT_REFUSED;
	case CLIENT_E_OUTPUT:   return CPCHAT_EXIT_LOCAL;
	case CLIENT_E_TLS:      return CPCHAT_EXIT_TLS;
	case CLIENT_E_SERVER:
	case CLIENT_E_PROTOCOL: break;
	}
	return CPCHAT_EXIT_SERVER;
}
