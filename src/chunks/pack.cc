#include "chunks/pack.h"
