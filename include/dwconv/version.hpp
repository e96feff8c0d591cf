// dwconv: version of these headers.
#pragma once

#define DWCONV_VERSION_MAJOR 0
#define DWCONV_VERSION_MINOR 1
#define DWCONV_VERSION_PATCH 0
