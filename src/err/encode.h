/* The encoder's entry for the log handler: appends one error object. */
#ifndef KEEL_ERR_ENCODE_H
#define KEEL_ERR_ENCODE_H

#include "err/err_internal.h"

void err_encode_into(err_buf *b, const keel_err *e, int depth);

#endif
