"""All tables, imported here so SQLModel.metadata (and Alembic) sees every one."""

from models.audit import AuditEvent
from models.chart import (
    ALLERGY_SEVERITIES,
    ALLERGY_STATUSES,
    Allergy,
    Condition,
    Encounter,
    PatientMedication,
    Study,
    VitalSigns,
)
from models.files import PatientFile, StoredFile, Upload, UploadChunk
from models.identity import ROLES, Branch, Clinic, Membership, PortalCode, User, UserSession
from models.jobs import JOB_STATUSES, Job
from models.notifications import NOTIFICATION_CHANNELS, NOTIFICATION_STATUSES, Notification
from models.patients import Patient, PatientSearchTerm
from models.prescriptions import (
    PRESCRIPTION_STATUSES,
    AccessGrant,
    Medication,
    Prescription,
    StarterCatalogLoad,
)
from models.reports import (
    REPORT_STATUSES,
    REPORT_TYPES,
    Report,
    ReportTemplate,
)
from models.scheduling import (
    ACTIVE_APPOINTMENT_STATUSES,
    APPOINTMENT_STATUSES,
    EXCEPTION_KINDS,
    PROVIDER_KINDS,
    Appointment,
    AppointmentEvent,
    AvailabilityException,
    AvailabilityTemplate,
    Provider,
    SchedulingPolicy,
    VisitType,
)
from models.scribe import (
    CONSENT_METHODS,
    SESSION_STATUSES,
    AudioChunk,
    ConsultationSession,
    Transcription,
)

__all__ = [
    "REPORT_STATUSES",
    "REPORT_TYPES",
    "Report",
    "ReportTemplate",
    "CONSENT_METHODS",
    "SESSION_STATUSES",
    "AudioChunk",
    "ConsultationSession",
    "Transcription",
    "PRESCRIPTION_STATUSES",
    "AccessGrant",
    "Medication",
    "Prescription",
    "StarterCatalogLoad",
    "ALLERGY_SEVERITIES",
    "ALLERGY_STATUSES",
    "Allergy",
    "Condition",
    "Encounter",
    "PatientMedication",
    "PatientSearchTerm",
    "Study",
    "VitalSigns",
    "ACTIVE_APPOINTMENT_STATUSES",
    "EXCEPTION_KINDS",
    "PROVIDER_KINDS",
    "AppointmentEvent",
    "AvailabilityException",
    "AvailabilityTemplate",
    "SchedulingPolicy",
    "VisitType",
    "APPOINTMENT_STATUSES",
    "JOB_STATUSES",
    "NOTIFICATION_CHANNELS",
    "NOTIFICATION_STATUSES",
    "ROLES",
    "Appointment",
    "AuditEvent",
    "Branch",
    "PortalCode",
    "UserSession",
    "Clinic",
    "Job",
    "Membership",
    "Notification",
    "Patient",
    "Provider",
    "StoredFile",
    "PatientFile",
    "Upload",
    "UploadChunk",
    "User",
]
