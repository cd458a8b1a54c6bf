"""PUS service 17, test: TC[17,1] are-you-alive → TM[17,2] alive carrying the ICD
version (docs/icd.md §4; v2 added the version byte so a controller knows what it talks to)."""
from ..catalogue import ICD_VERSION, Service, message

ALIVE = message(Service.TEST, 2)


class AliveService:
    def __init__(self, core):
        self.core = core

    def handlers(self):
        return {(Service.TEST, 1): self.ping}

    def ping(self, tc):
        message(Service.TEST, 1).unpack(tc.app_data)
        return lambda replies: replies.append((Service.TEST, 2, ALIVE.pack(icd_version=ICD_VERSION)))
