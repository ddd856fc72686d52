#include "core/error.h"

namespace sightline {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidInput:
      return "invalid-input";
    case ErrorKind::Unauthenticated:
      return "unauthenticated";
    case ErrorKind::NotFound:
      return "not-found";
    case ErrorKind::Forbidden:
      return "forbidden";
    case ErrorKind::Conflict:
      return "conflict";
    case ErrorKind::TooLarge:
      return "too-large";
    case ErrorKind::UnsupportedMediaType:
      return "unsupported-media-type";
    case ErrorKind::TooManyRequests:
      return "too-many-requests";
    case ErrorKind::Cancelled:
      return "cancelled";
    case ErrorKind::Timeout:
      return "timeout";
    case ErrorKind::Unavailable:
      return "unavailable";
    case ErrorKind::SourceFailed:
      return "source-error";
    case ErrorKind::Internal:
      return "internal";
  }
  return "internal";
}

}  // namespace sightline
